/**
 * The books: what managed workloads hold, derived from the cluster view, plus
 * reservations for deploys that were admitted but are not visible yet.
 * Admission reads and reserves synchronously, so on Node's single thread no
 * two deploys can be admitted against the same room.
 */
import { deriveInstances, isLive, type Instance, type ObservedWorkloads } from './instances.js';
import { ZERO, add, sum, type Resources } from './resources.js';
import type { Clock, WorkloadView } from './ports.js';
import { storageHeld, type StorageUsed } from './storage.js';

interface Reservation {
  readonly instanceId: string;
  readonly specHash: string;
  readonly resources: Resources;
  /** Bytes of ephemeral and claimed storage the deploy adds. */
  readonly storage: number;
  /** Set once the create call succeeded: from then on the view should show it. */
  createdAt?: number;
}

/** Room taken by a Deployment being scaled up, until the view shows its new replica count. */
interface ScaleReservation {
  readonly replicas: number;
  readonly resources: Resources;
  readonly storage: number;
  createdAt?: number;
}

export interface LedgerOptions {
  /**
   * How long a created workload may stay invisible to the view before its
   * reservation lapses (it may have been deleted before we ever saw it).
   */
  readonly unseenTtlMs: number;
  /**
   * Instances whose pods still exist but hold nothing any more (stuck ones:
   * the control plane was told they failed, and they are being removed).
   */
  readonly released?: (instanceId: string) => boolean;
}

export class Ledger {
  private readonly reservations = new Map<string, Reservation>();
  private readonly scaling = new Map<string, ScaleReservation>();
  private memo: { snapshot: ObservedWorkloads; instances: Map<string, Instance> } | undefined;
  private storageMemo: { snapshot: ObservedWorkloads; held: ReturnType<typeof storageHeld> } | undefined;

  constructor(
    private readonly view: WorkloadView,
    private readonly clock: Clock,
    private readonly options: LedgerOptions,
  ) {
    // A workload may appear and vanish again (a Job that finishes and is
    // cleaned up) between two reads of the books: prune on every change so
    // its reservation cannot outlive it.
    view.onChange(() => this.prune());
  }

  /** Instances as the cluster shows them (reservations not included). */
  instances(): Map<string, Instance> {
    const snapshot = this.view.snapshot();
    if (this.memo?.snapshot !== snapshot) this.memo = { snapshot, instances: deriveInstances(snapshot) };
    return this.memo.instances;
  }

  instance(instanceId: string): Instance | undefined {
    return this.instances().get(instanceId);
  }

  reservation(instanceId: string): { specHash: string } | undefined {
    this.prune();
    return this.reservations.get(instanceId);
  }

  /** What managed workloads hold plus what admitted-but-unseen deploys will hold. */
  used(): Resources {
    this.prune();
    const released = this.options.released ?? ((): boolean => false);
    return add(
      sum([...this.instances().values()].map((i) => (released(i.id) ? ZERO : i.holds))),
      sum([...this.reservations.values(), ...this.scaling.values()].map((r) => r.resources)),
    );
  }

  /** Storage held: live pods' emptyDir limits (stuck instances released) and every claim, plus reservations. */
  storageUsed(): StorageUsed {
    this.prune();
    const snapshot = this.view.snapshot();
    if (this.storageMemo?.snapshot !== snapshot) this.storageMemo = { snapshot, held: storageHeld(snapshot) };
    const released = this.options.released ?? ((): boolean => false);
    let ephemeral = 0;
    for (const [id, n] of this.storageMemo.held.ephemeral) if (!released(id)) ephemeral += n;
    let reserved = 0;
    for (const r of [...this.reservations.values(), ...this.scaling.values()]) reserved += r.storage;
    // A reservation does not say how its storage splits; what a deploy claims is counted as claimed once seen.
    return { ephemeral: ephemeral + reserved, claimed: this.storageMemo.held.claimed };
  }

  /** Instances that still run or wait to run, reservations included. */
  liveCount(): number {
    this.prune();
    let n = this.reservations.size;
    const released = this.options.released ?? ((): boolean => false);
    for (const i of this.instances().values()) if (isLive(i) && !released(i.id)) n++;
    return n;
  }

  reservedCount(): number {
    return this.reservations.size;
  }

  reserve(instanceId: string, specHash: string, resources: Resources, storage = 0): void {
    this.reservations.set(instanceId, { instanceId, specHash, resources, storage });
  }

  /** Holds the extra room of a scale-up until the view shows the Deployment at `replicas`. */
  reserveScale(instanceId: string, replicas: number, resources: Resources, storage: number): void {
    this.scaling.set(instanceId, { replicas, resources, storage });
  }

  /** The scale call succeeded: keep holding until the view shows the new count (or the TTL passes). */
  markScaled(instanceId: string): void {
    const r = this.scaling.get(instanceId);
    if (r) r.createdAt = this.clock.now();
  }

  releaseScale(instanceId: string): void {
    this.scaling.delete(instanceId);
  }

  scalingInProgress(instanceId: string): boolean {
    this.prune();
    return this.scaling.has(instanceId);
  }

  /** The create call succeeded: keep holding until the view shows the workload. */
  markCreated(instanceId: string): void {
    const r = this.reservations.get(instanceId);
    if (r) r.createdAt = this.clock.now();
  }

  release(instanceId: string): void {
    this.reservations.delete(instanceId);
  }

  private prune(): void {
    this.pruneScaling();
    if (![...this.reservations.values()].some((r) => r.createdAt !== undefined)) return;
    const instances = this.instances();
    const now = this.clock.now();
    for (const [id, r] of this.reservations) {
      if (r.createdAt === undefined) continue; // create still in flight
      if (instances.has(id) || now - r.createdAt > this.options.unseenTtlMs) this.reservations.delete(id);
    }
  }

  private pruneScaling(): void {
    if (this.scaling.size === 0) return;
    const now = this.clock.now();
    const deployments = this.view.snapshot().deployments ?? [];
    for (const [id, r] of this.scaling) {
      if (r.createdAt === undefined) continue; // scale call still in flight
      const d = deployments.find((x) => x.instanceId === id);
      if (!d || d.replicas === r.replicas || now - r.createdAt > this.options.unseenTtlMs) this.scaling.delete(id);
    }
  }
}

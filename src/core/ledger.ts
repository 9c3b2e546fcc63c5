/**
 * The books: what managed workloads hold, derived from the cluster view, plus
 * reservations for deploys that were admitted but are not visible yet.
 * Admission reads and reserves synchronously, so on Node's single thread no
 * two deploys can be admitted against the same room.
 */
import { deriveInstances, isLive, type Instance, type ObservedWorkloads } from './instances.js';
import { ZERO, add, sum, type Resources } from './resources.js';
import type { Clock, WorkloadView } from './ports.js';

interface Reservation {
  readonly instanceId: string;
  readonly specHash: string;
  readonly resources: Resources;
  /** Set once the create call succeeded: from then on the view should show it. */
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
  private memo: { snapshot: ObservedWorkloads; instances: Map<string, Instance> } | undefined;

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
    return add(sum([...this.instances().values()].map((i) => (released(i.id) ? ZERO : i.holds))), sum([...this.reservations.values()].map((r) => r.resources)));
  }

  /** Instances that still run or wait to run, reservations included. */
  liveCount(): number {
    this.prune();
    let n = this.reservations.size;
    const released = this.options.released ?? ((): boolean => false);
    for (const i of this.instances().values()) if (isLive(i) && !released(i.id)) n++;
    return n;
  }

  /** What admitted-but-unseen deploys will hold (part of used()). */
  reserved(): Resources {
    this.prune();
    return sum([...this.reservations.values()].map((r) => r.resources));
  }

  reservedCount(): number {
    return this.reservations.size;
  }

  reserve(instanceId: string, specHash: string, resources: Resources): void {
    this.reservations.set(instanceId, { instanceId, specHash, resources });
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
    if (![...this.reservations.values()].some((r) => r.createdAt !== undefined)) return;
    const instances = this.instances();
    const now = this.clock.now();
    for (const [id, r] of this.reservations) {
      if (r.createdAt === undefined) continue; // create still in flight
      if (instances.has(id) || now - r.createdAt > this.options.unseenTtlMs) this.reservations.delete(id);
    }
  }
}

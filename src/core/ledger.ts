/**
 * The books: what managed workloads hold, derived from the cluster view, plus
 * reservations for deploys that were admitted but are not visible yet.
 * Admission reads and reserves synchronously, so on Node's single thread no
 * two deploys can be admitted against the same room.
 *
 * The books follow the view's changes one object at a time: a change
 * re-derives only the instance it touches and moves the totals by the
 * difference, so an event costs the same at 10 pods as at 10,000. Only a
 * relist (`reset`) rebuilds everything from the snapshot; `deriveInstances`
 * and `storageHeld` over the snapshot are what the books must equal at any time.
 */
import { deriveInstance, isLive, type Instance, type ObservedClaim, type ObservedDeployment, type ObservedJob, type ObservedPod } from './instances.js';
import { add, type Resources } from './resources.js';
import type { Clock, WorkloadChange, WorkloadView } from './ports.js';
import { ephemeralHeld, type StorageUsed } from './storage.js';

interface Reservation {
  readonly instanceId: string;
  readonly specHash: string;
  readonly resources: Resources;
  /** Bytes of ephemeral and claimed storage the deploy adds. */
  readonly storage: StorageUsed;
  /** Pods the deploy will run: a Deployment's replicas, else one. */
  readonly pods: number;
  /** Set once the create call succeeded: from then on the view should show it. */
  createdAt?: number;
}

/** Room taken by a Deployment being scaled up, until the view shows its new replica count. */
interface ScaleReservation {
  readonly replicas: number;
  /** Pods the scale-up adds. */
  readonly pods: number;
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
   * Read at every read of the books; expected to be small.
   */
  readonly released?: () => ReadonlySet<string>;
}

/** The objects that carry one instance id. */
interface Group {
  readonly pods: Map<string, ObservedPod>;
  readonly jobs: Map<string, ObservedJob>;
  readonly deployments: Map<string, ObservedDeployment>;
  readonly claims: Map<string, ObservedClaim>;
}

/** What one instance id holds in the storage books. */
interface HeldStorage {
  readonly ephemeral: number;
  readonly claimed: number;
}

const NONE: ReadonlySet<string> = new Set();
const NO_STORAGE: StorageUsed = { ephemeral: 0, claimed: 0 };

function collection(g: Group, kind: WorkloadChange['kind']): Map<string, { readonly name: string; readonly instanceId: string }> {
  if (kind === 'Pod') return g.pods;
  if (kind === 'Job') return g.jobs;
  if (kind === 'Deployment') return g.deployments;
  return g.claims;
}

const isEmpty = (g: Group): boolean => g.pods.size === 0 && g.jobs.size === 0 && g.deployments.size === 0 && g.claims.size === 0;

export class Ledger {
  private readonly reservations = new Map<string, Reservation>();
  private readonly scaling = new Map<string, ScaleReservation>();
  /**
   * Claim bytes of deploys whose workload is seen while their create call
   * (which makes the claims after the workload) has not answered yet: the
   * workload's figure replaces the reservation, its claims are not visible yet.
   */
  private readonly claimsInFlight = new Map<string, number>();
  private readonly groups = new Map<string, Group>();
  /** Which instance each object (`Pod/name`, `Job/name`, ...) belongs to, so an update that changes it moves the object. */
  private readonly owner = new Map<string, string>();
  private readonly derived = new Map<string, Instance>();
  private readonly storageOf = new Map<string, HeldStorage>();
  /** Sum of every derived instance's holds, and how many of them are live. */
  private held = { cpu: 0, memory: 0, gpu: 0 };
  private live = 0;
  /** Sum of storageOf. */
  private heldStorage = { ephemeral: 0, claimed: 0 };
  /** Reservations with a create that succeeded: only these can lapse. */
  private created = 0;

  constructor(
    view: WorkloadView,
    private readonly clock: Clock,
    private readonly options: LedgerOptions,
  ) {
    view.onChange((change) => this.apply(change, view));
    this.rebuild(view);
  }

  /** Instances as the cluster shows them (reservations not included); kept current, do not modify. */
  instances(): ReadonlyMap<string, Instance> {
    return this.derived;
  }

  instance(instanceId: string): Instance | undefined {
    return this.derived.get(instanceId);
  }

  /** The claims that carry the instance's id, as the view shows them (retained ones outlive the instance). */
  claimsOf(instanceId: string): Iterable<ObservedClaim> {
    return this.groups.get(instanceId)?.claims.values() ?? [];
  }

  reservation(instanceId: string): { specHash: string } | undefined {
    this.pruneExpired();
    return this.reservations.get(instanceId);
  }

  /** What managed workloads hold plus what admitted-but-unseen deploys (and scale-ups) will hold. */
  used(): Resources {
    this.pruneExpired();
    let used: Resources = { ...this.held };
    for (const id of this.released()) {
      const i = this.derived.get(id);
      if (i) used = { cpu: used.cpu - i.holds.cpu, memory: used.memory - i.holds.memory, gpu: used.gpu - i.holds.gpu };
    }
    for (const r of this.reservations.values()) used = add(used, r.resources);
    for (const r of this.scaling.values()) used = add(used, r.resources);
    return used;
  }

  /** Storage held: live pods' emptyDir limits (stuck instances released) and every claim, plus reservations. */
  storageUsed(): StorageUsed {
    this.pruneExpired();
    let ephemeral = this.heldStorage.ephemeral;
    let claimed = this.heldStorage.claimed;
    for (const id of this.released()) ephemeral -= this.storageOf.get(id)?.ephemeral ?? 0;
    for (const r of this.reservations.values()) {
      ephemeral += r.storage.ephemeral;
      claimed += r.storage.claimed;
    }
    for (const r of this.scaling.values()) ephemeral += r.storage;
    for (const n of this.claimsInFlight.values()) claimed += n;
    return { ephemeral, claimed };
  }

  /** Instances that still run or wait to run, reservations included. */
  liveCount(): number {
    this.pruneExpired();
    let n = this.live + this.reservations.size;
    for (const id of this.released()) {
      const i = this.derived.get(id);
      if (i && isLive(i)) n--;
    }
    return n;
  }

  /** What admitted-but-unseen deploys will hold (part of used()). */
  reserved(): Resources {
    this.pruneExpired();
    let reserved: Resources = { cpu: 0, memory: 0, gpu: 0 };
    for (const r of this.reservations.values()) reserved = add(reserved, r.resources);
    for (const r of this.scaling.values()) reserved = add(reserved, r.resources);
    return reserved;
  }

  /** Claim bytes of admitted deploys whose claims are not visible yet (part of storageUsed()). */
  reservedClaimed(): number {
    this.pruneExpired();
    let claimed = 0;
    for (const r of this.reservations.values()) claimed += r.storage.claimed;
    for (const n of this.claimsInFlight.values()) claimed += n;
    return claimed;
  }

  reservedCount(): number {
    return this.reservations.size;
  }

  /** Pods that admitted deploys and scale-ups will add and the view does not show yet. */
  reservedPods(): number {
    this.pruneExpired();
    let pods = 0;
    for (const r of this.reservations.values()) pods += r.pods;
    for (const r of this.scaling.values()) pods += r.pods;
    return pods;
  }

  reserve(instanceId: string, specHash: string, resources: Resources, storage: StorageUsed = NO_STORAGE, pods = 1): void {
    this.release(instanceId);
    this.reservations.set(instanceId, { instanceId, specHash, resources, storage, pods });
  }

  /** Holds the extra room of a scale-up until the view shows the Deployment at `replicas`. */
  reserveScale(instanceId: string, replicas: number, resources: Resources, storage: number, pods = 0): void {
    this.scaling.set(instanceId, { replicas, resources, storage, pods });
  }

  /** The scale call succeeded: keep holding until the view shows the new count (or the TTL passes). */
  markScaled(instanceId: string): void {
    const r = this.scaling.get(instanceId);
    if (!r) return;
    r.createdAt = this.clock.now();
    // The watch may have shown the new count before the call returned.
    this.settleScale(instanceId);
  }

  releaseScale(instanceId: string): void {
    this.scaling.delete(instanceId);
  }

  scalingInProgress(instanceId: string): boolean {
    this.pruneExpired();
    return this.scaling.has(instanceId);
  }

  /** The create call succeeded: keep holding until the view shows the workload. */
  markCreated(instanceId: string): void {
    // The claims are made by now; from here the view shows them like any other.
    this.claimsInFlight.delete(instanceId);
    const r = this.reservations.get(instanceId);
    if (r && r.createdAt === undefined) {
      r.createdAt = this.clock.now();
      this.created++;
      // The watch may have shown the workload before the create call returned.
      if (this.derived.has(instanceId)) this.release(instanceId);
    }
  }

  release(instanceId: string): void {
    this.claimsInFlight.delete(instanceId);
    const r = this.reservations.get(instanceId);
    if (!r) return;
    if (r.createdAt !== undefined) this.created--;
    this.reservations.delete(instanceId);
  }

  private released(): ReadonlySet<string> {
    return this.options.released?.() ?? NONE;
  }

  private apply(change: WorkloadChange, view: WorkloadView): void {
    if (change.type === 'reset') {
      this.rebuild(view);
      return;
    }
    const key = `${change.kind}/${change.object.name}`;
    const before = this.owner.get(key);
    if (before !== undefined && (change.type === 'deleted' || before !== change.object.instanceId)) {
      const g = this.groups.get(before);
      if (g) {
        collection(g, change.kind).delete(change.object.name);
        if (isEmpty(g)) this.groups.delete(before);
      }
      this.owner.delete(key);
      this.rederive(before);
    }
    if (change.type === 'deleted') return;
    const id = change.object.instanceId;
    collection(this.groupOf(id), change.kind).set(change.object.name, change.object);
    this.owner.set(key, id);
    this.rederive(id);
  }

  /** A relist: every object afresh from the snapshot (the one full recompute). */
  private rebuild(view: WorkloadView): void {
    const { pods, jobs, deployments = [], claims = [] } = view.snapshot();
    this.groups.clear();
    this.owner.clear();
    this.derived.clear();
    this.storageOf.clear();
    this.held = { cpu: 0, memory: 0, gpu: 0 };
    this.live = 0;
    this.heldStorage = { ephemeral: 0, claimed: 0 };
    const add = (kind: WorkloadChange['kind'], o: { readonly name: string; readonly instanceId: string }): void => {
      collection(this.groupOf(o.instanceId), kind).set(o.name, o);
      this.owner.set(`${kind}/${o.name}`, o.instanceId);
    };
    for (const p of pods) add('Pod', p);
    for (const j of jobs) add('Job', j);
    for (const d of deployments) add('Deployment', d);
    for (const c of claims) add('Claim', c);
    for (const id of this.groups.keys()) this.rederive(id);
  }

  private groupOf(id: string): Group {
    let g = this.groups.get(id);
    if (!g) {
      g = { pods: new Map(), jobs: new Map(), deployments: new Map(), claims: new Map() };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Re-derives one instance and moves the totals by the difference. */
  private rederive(id: string): void {
    const previous = this.derived.get(id);
    if (previous) this.count(previous, -1);
    this.countStorage(id, this.storageOf.get(id), -1);
    const g = this.groups.get(id);
    const storage = g && { ephemeral: ephemeralHeld(g.pods.values(), g.jobs.values(), g.deployments.values()), claimed: claimBytes(g.claims) };
    this.countStorage(id, storage, 1);
    const next = g ? deriveInstance(id, [...g.pods.values()], g.jobs.values(), g.deployments.values()) : undefined;
    this.settleScale(id);
    if (!next) {
      this.derived.delete(id);
      return;
    }
    this.derived.set(id, next);
    this.count(next, 1);
    // Seen: from now on the cluster's figure holds the room, not the reservation, even while the create call has
    // not answered yet. The watch often delivers the object before the create's response is read (always so on a
    // busy process), and counting both would hold the room twice, refuse deploys that fit and report used above
    // total. Admission only reserves ids the view does not show, so a visible instance with a reservation is that
    // very create's object. Its claims come after the workload: their bytes stay held until the create answers.
    const r = this.reservations.get(id);
    if (r) {
      this.release(id);
      if (r.createdAt === undefined && r.storage.claimed > 0) this.claimsInFlight.set(id, r.storage.claimed);
    }
  }

  private count(i: Instance, sign: 1 | -1): void {
    const h = this.held;
    this.held = { cpu: h.cpu + sign * i.holds.cpu, memory: h.memory + sign * i.holds.memory, gpu: h.gpu + sign * i.holds.gpu };
    if (isLive(i)) this.live += sign;
  }

  private countStorage(id: string, s: HeldStorage | undefined, sign: 1 | -1): void {
    if (!s) return;
    const h = this.heldStorage;
    this.heldStorage = { ephemeral: h.ephemeral + sign * s.ephemeral, claimed: h.claimed + sign * s.claimed };
    if (sign === 1) this.storageOf.set(id, s);
    else this.storageOf.delete(id);
  }

  /** Drops a scale reservation once its call answered and the view shows the new count (or no Deployment at all). */
  private settleScale(id: string): void {
    const r = this.scaling.get(id);
    if (r?.createdAt === undefined) return; // none, or the scale call still in flight
    const deployments = this.groups.get(id)?.deployments;
    let d: ObservedDeployment | undefined;
    for (const x of deployments?.values() ?? []) if (!d || x.name < d.name) d = x;
    if (!d || d.replicas === r.replicas) this.scaling.delete(id);
  }

  /** Drops created reservations (and answered scale-ups) the view never showed within the TTL. */
  private pruneExpired(): void {
    const now = this.clock.now();
    for (const [id, r] of this.scaling) {
      if (r.createdAt !== undefined && now - r.createdAt > this.options.unseenTtlMs) this.scaling.delete(id);
    }
    if (this.created === 0) return;
    for (const [id, r] of this.reservations) {
      if (r.createdAt !== undefined && now - r.createdAt > this.options.unseenTtlMs) this.release(id);
    }
  }
}

function claimBytes(claims: ReadonlyMap<string, ObservedClaim>): number {
  let n = 0;
  for (const c of claims.values()) n += c.sizeBytes;
  return n;
}

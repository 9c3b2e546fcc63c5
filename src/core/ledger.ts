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
 * over the snapshot is what the books must equal at any time.
 */
import { deriveInstance, isLive, type Instance, type ObservedJob, type ObservedPod } from './instances.js';
import { add, type Resources } from './resources.js';
import type { Clock, WorkloadChange, WorkloadView } from './ports.js';

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
   * Read at every read of the books; expected to be small.
   */
  readonly released?: () => ReadonlySet<string>;
}

/** The objects that carry one instance id. */
interface Group {
  readonly pods: Map<string, ObservedPod>;
  readonly jobs: Map<string, ObservedJob>;
}

const NONE: ReadonlySet<string> = new Set();

export class Ledger {
  private readonly reservations = new Map<string, Reservation>();
  private readonly groups = new Map<string, Group>();
  /** Which instance each object (`Pod/name`, `Job/name`) belongs to, so an update that changes it moves the object. */
  private readonly owner = new Map<string, string>();
  private readonly derived = new Map<string, Instance>();
  /** Sum of every derived instance's holds, and how many of them are live. */
  private held = { cpu: 0, memory: 0, gpu: 0 };
  private live = 0;
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

  reservation(instanceId: string): { specHash: string } | undefined {
    this.pruneExpired();
    return this.reservations.get(instanceId);
  }

  /** What managed workloads hold plus what admitted-but-unseen deploys will hold. */
  used(): Resources {
    this.pruneExpired();
    let used: Resources = { ...this.held };
    for (const id of this.released()) {
      const i = this.derived.get(id);
      if (i) used = { cpu: used.cpu - i.holds.cpu, memory: used.memory - i.holds.memory, gpu: used.gpu - i.holds.gpu };
    }
    for (const r of this.reservations.values()) used = add(used, r.resources);
    return used;
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
    return reserved;
  }

  reservedCount(): number {
    return this.reservations.size;
  }

  reserve(instanceId: string, specHash: string, resources: Resources): void {
    this.release(instanceId);
    this.reservations.set(instanceId, { instanceId, specHash, resources });
  }

  /** The create call succeeded: keep holding until the view shows the workload. */
  markCreated(instanceId: string): void {
    const r = this.reservations.get(instanceId);
    if (r && r.createdAt === undefined) {
      r.createdAt = this.clock.now();
      this.created++;
      // The watch may have shown the workload before the create call returned.
      if (this.derived.has(instanceId)) this.release(instanceId);
    }
  }

  release(instanceId: string): void {
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
        (change.kind === 'Pod' ? g.pods : g.jobs).delete(change.object.name);
        if (g.pods.size === 0 && g.jobs.size === 0) this.groups.delete(before);
      }
      this.owner.delete(key);
      this.rederive(before);
    }
    if (change.type === 'deleted') return;
    const id = change.object.instanceId;
    const g = this.groupOf(id);
    if (change.kind === 'Pod') g.pods.set(change.object.name, change.object);
    else g.jobs.set(change.object.name, change.object);
    this.owner.set(key, id);
    this.rederive(id);
  }

  /** A relist: every object afresh from the snapshot (the one full recompute). */
  private rebuild(view: WorkloadView): void {
    const { pods, jobs } = view.snapshot();
    this.groups.clear();
    this.owner.clear();
    this.derived.clear();
    this.held = { cpu: 0, memory: 0, gpu: 0 };
    this.live = 0;
    for (const p of pods) {
      this.groupOf(p.instanceId).pods.set(p.name, p);
      this.owner.set(`Pod/${p.name}`, p.instanceId);
    }
    for (const j of jobs) {
      this.groupOf(j.instanceId).jobs.set(j.name, j);
      this.owner.set(`Job/${j.name}`, j.instanceId);
    }
    for (const id of this.groups.keys()) this.rederive(id);
  }

  private groupOf(id: string): Group {
    let g = this.groups.get(id);
    if (!g) {
      g = { pods: new Map(), jobs: new Map() };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Re-derives one instance and moves the totals by the difference. */
  private rederive(id: string): void {
    const previous = this.derived.get(id);
    if (previous) this.count(previous, -1);
    const g = this.groups.get(id);
    const next = g ? deriveInstance(id, [...g.pods.values()], g.jobs.values()) : undefined;
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
    // very create's object.
    if (this.reservations.has(id)) this.release(id);
  }

  private count(i: Instance, sign: 1 | -1): void {
    const h = this.held;
    this.held = { cpu: h.cpu + sign * i.holds.cpu, memory: h.memory + sign * i.holds.memory, gpu: h.gpu + sign * i.holds.gpu };
    if (isLive(i)) this.live += sign;
  }

  /** Drops created reservations whose workload never showed up within the TTL. */
  private pruneExpired(): void {
    if (this.created === 0) return;
    const now = this.clock.now();
    for (const [id, r] of this.reservations) {
      if (r.createdAt !== undefined && now - r.createdAt > this.options.unseenTtlMs) this.release(id);
    }
  }
}

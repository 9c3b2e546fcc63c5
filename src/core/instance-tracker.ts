/**
 * The instances as the instance API sees them, kept current from the view's
 * change notifications: each change recomputes only the instance it touches
 * and tells listeners what changed, so nobody diffs snapshots. A timer
 * re-describes pending instances when they are due to turn stuck, since that
 * happens with no change in the cluster.
 *
 * A stuck instance whose workload is deleted stays listed (Failed, with its
 * reason) for a while, so a control plane that asks why its instance never
 * ran gets the answer instead of NOT_FOUND; it is dropped after
 * `keepRemovedMs`, the oldest first beyond `maxRemoved`, or as soon as the
 * id is deployed again.
 */
import type { ObservedClaim, ObservedDeployment, ObservedJob, ObservedPod } from './instances.js';
import { describeInstance, type InstanceStatus, type StuckPolicy } from './instance-status.js';

export interface TrackerPolicy extends StuckPolicy {
  /** How long a stuck instance stays listed after its workload is gone. */
  readonly keepRemovedMs: number;
  readonly maxRemoved: number;
}
import type { Clock, WorkloadChange, WorkloadView } from './ports.js';

export interface InstanceEvent {
  readonly type: 'added' | 'modified' | 'deleted';
  readonly instance: InstanceStatus;
}

interface Group {
  readonly pods: Map<string, ObservedPod>;
  readonly jobs: Map<string, ObservedJob>;
  readonly deployments: Map<string, ObservedDeployment>;
  /** Claims alone (a retained claim of an undeployed instance) do not make an instance. */
  readonly claims: Map<string, ObservedClaim>;
}

type Kind = WorkloadChange['kind'];
const hasWorkload = (g: Group): boolean => g.pods.size > 0 || g.jobs.size > 0 || g.deployments.size > 0;

export class InstanceTracker {
  private readonly groups = new Map<string, Group>();
  /** Which instance each object belongs to, so an update that changes it moves the object. */
  private readonly owner = new Map<string, string>();
  private readonly statuses = new Map<string, InstanceStatus>();
  /** The ids of the stuck instances among `statuses`, so the books can skip them without scanning every instance. */
  private readonly stuckIds = new Set<string>();
  private readonly stuckAt = new Map<string, number>();
  /** Stuck instances whose workload is gone, with when they stop being listed. */
  private readonly removed = new Map<string, number>();
  private readonly listeners = new Set<(event: InstanceEvent) => void>();
  private sorted: InstanceStatus[] | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;

  constructor(
    private readonly view: WorkloadView,
    private readonly clock: Clock,
    private readonly policy: TrackerPolicy,
  ) {}

  start(): void {
    this.unsubscribe = this.view.onChange((change) => this.apply(change));
    this.rebuild(false);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get(id: string): InstanceStatus | undefined {
    return this.statuses.get(id);
  }

  /** Every instance, ordered by id (memoised until the next change). */
  list(): readonly InstanceStatus[] {
    this.sorted ??= [...this.statuses.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.sorted;
  }

  size(): number {
    return this.statuses.size;
  }

  /** A stuck instance holds nothing in the books, whatever its pod still shows. */
  isStuck(id: string): boolean {
    return this.stuckIds.has(id);
  }

  /** Every stuck instance (few): what the books release. */
  stuck(): ReadonlySet<string> {
    return this.stuckIds;
  }

  onEvent(listener: (event: InstanceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listing a stuck instance whose workload is already gone (it was undeployed explicitly). */
  forget(id: string): void {
    if (!this.removed.has(id) || this.groups.has(id)) return;
    this.removed.set(id, this.clock.now());
    this.refresh(id);
    this.schedule();
  }

  /** Re-describes the instances whose stuck time has come; called by the timer (and by tests with their own clock). */
  tick(): void {
    const now = this.clock.now();
    for (const [id, at] of this.stuckAt) if (at <= now) this.refresh(id);
    for (const [id, until] of this.removed) if (until <= now) this.refresh(id);
    this.schedule();
  }

  private apply(change: WorkloadChange): void {
    if (change.type === 'reset') {
      this.rebuild(true);
      return;
    }
    const key = `${change.kind}/${change.object.name}`;
    const before = this.owner.get(key);
    const touched = new Set<string>();
    if (before !== undefined && (change.type === 'deleted' || before !== change.object.instanceId)) {
      this.detach(change.kind, change.object.name, before);
      this.owner.delete(key);
      touched.add(before);
    }
    if (change.type !== 'deleted') {
      const id = change.object.instanceId;
      const group = this.groupOf(id);
      if (change.kind === 'Pod') group.pods.set(change.object.name, change.object);
      else if (change.kind === 'Job') group.jobs.set(change.object.name, change.object);
      else if (change.kind === 'Deployment') group.deployments.set(change.object.name, change.object);
      else group.claims.set(change.object.name, change.object);
      this.owner.set(key, id);
      touched.add(id);
    }
    for (const id of touched) this.refresh(id);
    this.schedule();
  }

  private groupOf(id: string): Group {
    let g = this.groups.get(id);
    if (!g) {
      g = { pods: new Map(), jobs: new Map(), deployments: new Map(), claims: new Map() };
      this.groups.set(id, g);
    }
    return g;
  }

  private detach(kind: Exclude<Kind, 'reset'>, name: string, id: string): void {
    const g = this.groups.get(id);
    if (!g) return;
    ({ Pod: g.pods, Job: g.jobs, Deployment: g.deployments, Claim: g.claims })[kind].delete(name);
    if (!hasWorkload(g) && g.claims.size === 0) this.groups.delete(id);
  }

  /** Recomputes one instance and reports it if anything a client can see changed. */
  private refresh(id: string, silent = false): void {
    const found = this.groups.get(id);
    const group = found && hasWorkload(found) ? found : undefined;
    const previous = this.statuses.get(id);
    if (!group) {
      this.stuckAt.delete(id);
      if (!previous) return;
      if (this.keepRemoved(id, previous)) return;
      this.removed.delete(id);
      this.statuses.delete(id);
      this.stuckIds.delete(id);
      this.sorted = undefined;
      if (!silent) this.emit({ type: 'deleted', instance: previous });
      return;
    }
    // One Job per instance; should a second one appear (made by hand), the instance is the first by name.
    const job = [...group.jobs.values()].sort((a, b) => (a.name < b.name ? -1 : 1))[0];
    const deployment = [...group.deployments.values()].sort((a, b) => (a.name < b.name ? -1 : 1))[0];
    const { status, stuckAt } = describeInstance(id, job, [...group.pods.values()], this.clock.now(), this.policy, deployment, [...group.claims.values()]);
    this.removed.delete(id); // deployed again: the new workload is what counts
    if (stuckAt === undefined) this.stuckAt.delete(id);
    else this.stuckAt.set(id, stuckAt);
    if (previous && sameStatus(previous, status)) return;
    this.statuses.set(id, status);
    if (status.stuck) this.stuckIds.add(id);
    else this.stuckIds.delete(id);
    this.sorted = undefined;
    if (!silent) this.emit({ type: previous ? 'modified' : 'added', instance: status });
  }

  /** True while a stuck instance that is gone should still be listed; starts its clock the first time. */
  private keepRemoved(id: string, previous: InstanceStatus): boolean {
    if (!previous.stuck) return false;
    const now = this.clock.now();
    let until = this.removed.get(id);
    if (until === undefined) {
      until = now + this.policy.keepRemovedMs;
      this.removed.set(id, until);
      // Beyond the cap the oldest go first (Map order is insertion order).
      for (const oldest of this.removed.keys()) {
        if (this.removed.size <= this.policy.maxRemoved) break;
        this.removed.set(oldest, now);
        if (oldest === id) break;
        this.refresh(oldest);
      }
      until = this.removed.get(id) ?? now;
    }
    return until > now;
  }

  /**
   * After a relist: regroup everything from the snapshot and report each
   * instance that changed, as if its changes had arrived one by one (the
   * relist carries no per-object events, so this is the one place that compares).
   */
  private rebuild(announce: boolean): void {
    const { pods, jobs, deployments = [], claims = [] } = this.view.snapshot();
    const ids = new Set(this.statuses.keys());
    this.groups.clear();
    this.owner.clear();
    for (const p of pods) {
      this.groupOf(p.instanceId).pods.set(p.name, p);
      this.owner.set(`Pod/${p.name}`, p.instanceId);
    }
    for (const j of jobs) {
      this.groupOf(j.instanceId).jobs.set(j.name, j);
      this.owner.set(`Job/${j.name}`, j.instanceId);
    }
    for (const d of deployments) {
      this.groupOf(d.instanceId).deployments.set(d.name, d);
      this.owner.set(`Deployment/${d.name}`, d.instanceId);
    }
    for (const c of claims) {
      this.groupOf(c.instanceId).claims.set(c.name, c);
      this.owner.set(`Claim/${c.name}`, c.instanceId);
    }
    for (const id of this.groups.keys()) ids.add(id);
    for (const id of ids) this.refresh(id, !announce);
    this.schedule();
  }

  private schedule(): void {
    let next: number | undefined;
    for (const at of [...this.stuckAt.values(), ...this.removed.values()]) next = next === undefined ? at : Math.min(next, at);
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === undefined || !this.unsubscribe) return;
    // A little after the due time, so the clock has certainly passed it.
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.tick();
      },
      Math.max(0, next - this.clock.now()) + 10,
    );
    this.timer.unref();
  }

  private emit(event: InstanceEvent): void {
    for (const l of this.listeners) l(event);
  }
}

const KEYS: ReadonlyArray<keyof InstanceStatus> = [
  'kind',
  'workloadName',
  'workloadUid',
  'providerId',
  'image',
  'podName',
  'podUid',
  'phase',
  'ready',
  'reason',
  'message',
  'stuck',
  'node',
  'podIp',
  'createdAt',
  'startedAt',
  'finishedAt',
  'exitCode',
  'restartCount',
  'cleanupPolicy',
  'specHash',
  'replicas',
  'readyReplicas',
];

function sameStatus(a: InstanceStatus, b: InstanceStatus): boolean {
  if (!KEYS.every((k) => a[k] === b[k])) return false;
  if (a.volumes.length !== b.volumes.length || JSON.stringify(a.volumes) !== JSON.stringify(b.volumes)) return false;
  // Labels can change (kubectl label): watchers hear it.
  if (JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {})) return false;
  return (
    a.requests.cpu === b.requests.cpu &&
    a.requests.memory === b.requests.memory &&
    a.requests.gpu === b.requests.gpu &&
    a.holds.cpu === b.holds.cpu &&
    a.holds.memory === b.holds.memory &&
    a.holds.gpu === b.holds.gpu
  );
}

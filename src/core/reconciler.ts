/**
 * The one background actor that deletes: stuck instances (when
 * instances.delete_stuck), finished Jobs as their cleanup policy says, and
 * finished workloads the policy keeps once they are older than
 * instances.keep_finished_seconds or beyond instances.max_finished. It acts
 * on the tracker's change events and deletes through the WorkloadRuntime, so
 * a replica that is not the leader simply does not start it.
 */
import { removeOnFinish, retentionDue, type RetentionCause, type RetentionPolicy } from './cleanup.js';
import { noEvents, type EventInput, type EventRecorder, type WorkloadObject } from './events.js';
import { isFinished, type InstanceStatus } from './instance-status.js';
import type { InstanceEvent, InstanceTracker } from './instance-tracker.js';
import type { Clock, Logger, WorkloadRuntime } from './ports.js';

export interface ReconcilerOptions {
  readonly deleteStuck: boolean;
  readonly retention: RetentionPolicy;
  /** Wait before retrying a delete that failed (the API server may be down). */
  readonly retryMs: number;
}

export interface ReconcilerObserver {
  /** Once per stuck pod, with its reason (Unschedulable, ImagePullBackOff, ...). */
  instanceStuck(reason: string): void;
}

export interface ReconcilerDeps {
  readonly tracker: InstanceTracker;
  readonly runtime: WorkloadRuntime;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer?: ReconcilerObserver | undefined;
  /** Stuck and DeletedStuck on the stuck pod, CleanedUp on the workload removed. */
  readonly events?: EventRecorder | undefined;
}

type Cause = 'stuck' | 'policy' | RetentionCause;

export class Reconciler {
  /** instance id -> the pod already reported stuck, so each stuck pod is logged and counted once. */
  private readonly reported = new Map<string, string>();
  private readonly deleting = new Set<string>();
  /** Finished instances the cleanup policy keeps, with when they finished. */
  private readonly kept = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private retentionTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly options: ReconcilerOptions,
  ) {}

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.deps.tracker.onEvent((e) => this.onEvent(e));
    this.sweep();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
  }

  /** Deletes in flight (for tests and shutdown). */
  busy(): number {
    return this.deleting.size;
  }

  private onEvent(event: InstanceEvent): void {
    if (event.type === 'deleted') {
      this.reported.delete(event.instance.id);
      this.kept.delete(event.instance.id);
      return;
    }
    this.consider(event.instance);
    this.retain();
  }

  /** Everything as it stands at start (later, every change arrives as an event). */
  private sweep(): void {
    const present = new Set<string>();
    for (const s of this.deps.tracker.list()) {
      present.add(s.id);
      this.consider(s);
    }
    for (const id of [...this.kept.keys()]) if (!present.has(id)) this.kept.delete(id);
    for (const id of [...this.reported.keys()]) if (!present.has(id)) this.reported.delete(id);
    this.retain();
  }

  private consider(s: InstanceStatus): void {
    if (s.stuck) {
      this.kept.delete(s.id);
      const pod = s.podName ?? '';
      if (this.reported.get(s.id) !== pod) {
        this.reported.set(s.id, pod);
        this.deps.log.warn(
          {
            instanceId: s.id,
            kind: s.kind,
            workload: s.workloadName,
            pod: s.podName,
            reason: s.reason,
            message: s.message,
            deleting: this.options.deleteStuck,
          },
          'instance stuck',
        );
        this.deps.observer?.instanceStuck(s.reason);
        const then = this.options.deleteStuck ? 'deleting it (instances.delete_stuck)' : 'kept (instances.delete_stuck is false); its room is released';
        this.event(s, { reason: 'Stuck', action: 'Observe', note: `instance "${s.id}" is stuck: ${describeCause(s)}; ${then}` });
      }
      if (this.options.deleteStuck) this.remove(s, 'stuck');
      return;
    }
    if (!isFinished(s)) {
      this.kept.delete(s.id);
      return;
    }
    const outcome = s.phase === 'Succeeded' ? 'Succeeded' : 'Failed';
    if (s.kind === 'Job' && removeOnFinish(s.cleanupPolicy, outcome)) {
      this.remove(s, 'policy');
      return;
    }
    if (!this.kept.has(s.id)) this.kept.set(s.id, s.finishedAt ?? this.deps.clock.now());
  }

  /** Removes what retention says must go, and sets the timer for the next one. */
  private retain(): void {
    const now = this.deps.clock.now();
    const finished = [...this.kept].filter(([id]) => !this.deleting.has(id)).map(([id, finishedAt]) => ({ id, finishedAt }));
    const { remove, nextAt } = retentionDue(finished, now, this.options.retention);
    for (const { id, cause } of remove) {
      const s = this.deps.tracker.get(id);
      if (s && isFinished(s) && !s.stuck) this.remove(s, cause);
      else this.kept.delete(id);
    }
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
    if (nextAt !== undefined && this.unsubscribe) {
      this.retentionTimer = setTimeout(() => this.retain(), Math.max(0, nextAt - now) + 10);
      this.retentionTimer.unref();
    }
  }

  /** A stuck pod's events go on the pod (that is what `kubectl describe pod` shows), with its Job as the related object. */
  private event(s: InstanceStatus, what: Pick<EventInput, 'reason' | 'action' | 'note'>): void {
    const workload: WorkloadObject = { kind: s.kind, name: s.workloadName, uid: s.workloadUid };
    const onPod = what.reason !== 'CleanedUp' && s.podName !== undefined && !(s.kind === 'Pod' && s.podName === s.workloadName);
    const subject: WorkloadObject = onPod && s.podName ? { kind: 'Pod', name: s.podName, uid: s.podUid } : workload;
    (this.deps.events ?? noEvents).record({ ...what, subject, related: onPod ? workload : undefined });
  }

  private remove(s: InstanceStatus, cause: Cause): void {
    if (this.deleting.has(s.id) || !s.workloadName) return;
    this.deleting.add(s.id);
    const { log, runtime } = this.deps;
    const fields = { instanceId: s.id, kind: s.kind, workload: s.workloadName, phase: s.phase, reason: s.reason, cause };
    void runtime
      .delete({ kind: s.kind, name: s.workloadName, uid: s.workloadUid }, { propagation: 'Background' })
      .then((outcome) => {
        this.kept.delete(s.id);
        // ttlSecondsAfterFinished: 0 (policy Always) lets the TTL controller win the race: the policy still removed it.
        if (outcome === 'deleted' || cause === 'policy') this.event(s, removal(s, cause));
        if (outcome === 'gone') return;
        if (cause === 'policy') {
          log.info(
            { job: s.workloadName, instanceId: s.id, outcome: s.phase === 'Succeeded' ? 'Complete' : 'Failed', policy: s.cleanupPolicy },
            'finished job cleaned up',
          );
        } else if (cause === 'stuck') {
          log.info(fields, 'stuck instance deleted');
        } else {
          log.info({ ...fields, finishedAt: s.finishedAt }, 'finished instance removed');
        }
      })
      .catch((err: unknown) => {
        log.warn({ ...fields, err: (err as Error).message }, 'could not delete; will retry');
        const t = setTimeout(() => {
          this.timers.delete(t);
          const now = this.deps.tracker.get(s.id);
          if (now && this.unsubscribe) {
            this.consider(now);
            this.retain();
          }
        }, this.options.retryMs);
        t.unref();
        this.timers.add(t);
      })
      .finally(() => this.deleting.delete(s.id));
  }
}

/** The status message already names the reason ("stuck: Unschedulable for more than 300s: 0/3 nodes ..."). */
function describeCause(s: InstanceStatus): string {
  return s.message ? s.message.replace(/^stuck: /, '') : s.reason || 'stuck';
}

/** The event for a workload the reconciler deleted, by why it went. */
function removal(s: InstanceStatus, cause: Cause): Pick<EventInput, 'reason' | 'action' | 'note'> {
  switch (cause) {
    case 'stuck':
      return { reason: 'DeletedStuck', action: 'Delete', note: `instance "${s.id}" deleted because it was stuck: ${describeCause(s)}` };
    case 'policy':
      return {
        reason: 'CleanedUp',
        action: 'Delete',
        note: `instance "${s.id}" deleted: the Job ${s.phase === 'Succeeded' ? 'completed' : 'failed'} and its cleanup policy is ${s.cleanupPolicy}`,
      };
    case 'age':
      return { reason: 'CleanedUp', action: 'Delete', note: `instance "${s.id}" deleted: finished longer ago than instances.keep_finished_seconds` };
    case 'count':
      return {
        reason: 'CleanedUp',
        action: 'Delete',
        note: `instance "${s.id}" deleted: more finished instances than instances.max_finished (the oldest go first)`,
      };
  }
}

/** The managed Pods and Jobs of our namespace, as the core's WorkloadView. */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ObservedWorkloads } from '../../core/instances.js';
import type { WorkloadChange, WorkloadView } from '../../core/ports.js';
import { observeJob, observePod } from './observe.js';
import type { Informer } from './informer.js';

export class WorkloadCache implements WorkloadView {
  private readonly listeners = new Set<(change: WorkloadChange) => void>();
  private detach: (() => void) | undefined;
  private memo: { podsVersion: number; jobsVersion: number; snapshot: ObservedWorkloads } | undefined;

  constructor(
    readonly pods: Informer<V1Pod>,
    readonly jobs: Informer<V1Job>,
  ) {}

  snapshot(): ObservedWorkloads {
    const { version: podsVersion } = this.pods;
    const { version: jobsVersion } = this.jobs;
    if (this.memo?.podsVersion !== podsVersion || this.memo.jobsVersion !== jobsVersion) {
      this.memo = {
        podsVersion,
        jobsVersion,
        snapshot: { pods: this.pods.items().map(observePod), jobs: this.jobs.items().map(observeJob) },
      };
    }
    return this.memo.snapshot;
  }

  synced(): boolean {
    return this.pods.synced() && this.jobs.synced();
  }

  onChange(listener: (change: WorkloadChange) => void): () => void {
    if (this.listeners.size === 0) {
      // One subscription per collection whatever the number of listeners: each object is converted once per change.
      const emit = (change: WorkloadChange): void => {
        for (const l of this.listeners) l(change);
      };
      const offPods = this.pods.onChange((c) =>
        emit(c.type === 'reset' ? { type: 'reset', kind: 'Pod' } : { type: c.type, kind: 'Pod', object: observePod(c.object) }),
      );
      const offJobs = this.jobs.onChange((c) =>
        emit(c.type === 'reset' ? { type: 'reset', kind: 'Job' } : { type: c.type, kind: 'Job', object: observeJob(c.object) }),
      );
      this.detach = () => {
        offPods();
        offJobs();
      };
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        this.detach?.();
        this.detach = undefined;
      }
    };
  }
}

/** The managed Pods and Jobs of our namespace, as the core's WorkloadView. */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ObservedWorkloads } from '../../core/instances.js';
import type { WorkloadView } from '../../core/ports.js';
import { observeJob, observePod } from './observe.js';
import type { Informer } from './informer.js';

export class WorkloadCache implements WorkloadView {
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

  onChange(listener: () => void): () => void {
    const offPods = this.pods.onChange(listener);
    const offJobs = this.jobs.onChange(listener);
    return () => {
      offPods();
      offJobs();
    };
  }
}

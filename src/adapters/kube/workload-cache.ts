/** The managed Pods, Jobs, Deployments and claims of our namespace, as the core's WorkloadView. */
import type { V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { ObservedWorkloads } from '../../core/instances.js';
import type { WorkloadChange, WorkloadView } from '../../core/ports.js';
import { observeClaim, observeDeployment, observeJob, observePod } from './observe.js';
import type { Informer } from './informer.js';

export class WorkloadCache implements WorkloadView {
  private readonly listeners = new Set<(change: WorkloadChange) => void>();
  private detach: (() => void) | undefined;
  private memo: { versions: string; snapshot: ObservedWorkloads } | undefined;

  constructor(
    readonly pods: Informer<V1Pod>,
    readonly jobs: Informer<V1Job>,
    readonly deployments: Informer<V1Deployment>,
    readonly claims: Informer<V1PersistentVolumeClaim>,
  ) {}

  snapshot(): ObservedWorkloads {
    const versions = `${this.pods.version}/${this.jobs.version}/${this.deployments.version}/${this.claims.version}`;
    if (this.memo?.versions !== versions) {
      this.memo = {
        versions,
        snapshot: {
          pods: this.pods.items().map(observePod),
          jobs: this.jobs.items().map(observeJob),
          deployments: this.deployments.items().map(observeDeployment),
          claims: this.claims.items().map(observeClaim),
        },
      };
    }
    return this.memo.snapshot;
  }

  synced(): boolean {
    return this.pods.synced() && this.jobs.synced() && this.deployments.synced() && this.claims.synced();
  }

  onChange(listener: (change: WorkloadChange) => void): () => void {
    if (this.listeners.size === 0) {
      // One subscription per collection whatever the number of listeners: each object is converted once per change.
      const emit = (change: WorkloadChange): void => {
        for (const l of this.listeners) l(change);
      };
      const offs = [
        this.pods.onChange((c) => emit(c.type === 'reset' ? { type: 'reset', kind: 'Pod' } : { type: c.type, kind: 'Pod', object: observePod(c.object) })),
        this.jobs.onChange((c) => emit(c.type === 'reset' ? { type: 'reset', kind: 'Job' } : { type: c.type, kind: 'Job', object: observeJob(c.object) })),
        this.deployments.onChange((c) =>
          emit(c.type === 'reset' ? { type: 'reset', kind: 'Deployment' } : { type: c.type, kind: 'Deployment', object: observeDeployment(c.object) }),
        ),
        this.claims.onChange((c) =>
          emit(c.type === 'reset' ? { type: 'reset', kind: 'Claim' } : { type: c.type, kind: 'Claim', object: observeClaim(c.object) }),
        ),
      ];
      this.detach = () => {
        for (const off of offs) off();
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

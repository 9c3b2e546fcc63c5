/**
 * The managed Pods, Jobs, Deployments and claims of our namespace, as the
 * core's WorkloadView. Each object is converted once, when its change
 * arrives, and kept by name; only a relist converts the whole collection
 * again. snapshot() copies the converted objects out when someone asks after
 * a change.
 */
import type { KubernetesObject, V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { ObservedClaim, ObservedDeployment, ObservedJob, ObservedPod, ObservedWorkloads } from '../../core/instances.js';
import type { WorkloadChange, WorkloadView } from '../../core/ports.js';
import { observeClaim, observeDeployment, observeJob, observePod } from './observe.js';
import type { CollectionChange, Informer } from './informer.js';

/** One collection's converted objects, by name, following its informer. */
class Converted<K extends KubernetesObject, O extends { name: string }> {
  readonly byName = new Map<string, O>();
  version = 0;

  constructor(
    private readonly informer: Informer<K>,
    private readonly convert: (k: K) => O,
  ) {
    this.reset();
  }

  reset(): void {
    this.byName.clear();
    for (const item of this.informer.items()) {
      const o = this.convert(item);
      this.byName.set(o.name, o);
    }
    this.version++;
  }

  /** Applies one change; returns the converted object. */
  apply(type: 'added' | 'modified' | 'deleted', object: K): O {
    const o = this.convert(object);
    if (type === 'deleted') this.byName.delete(o.name);
    else this.byName.set(o.name, o);
    this.version++;
    return o;
  }
}

export class WorkloadCache implements WorkloadView {
  private readonly listeners = new Set<(change: WorkloadChange) => void>();
  private readonly observedPods: Converted<V1Pod, ObservedPod>;
  private readonly observedJobs: Converted<V1Job, ObservedJob>;
  private readonly observedDeployments: Converted<V1Deployment, ObservedDeployment>;
  private readonly observedClaims: Converted<V1PersistentVolumeClaim, ObservedClaim>;
  private memo: { versions: string; snapshot: ObservedWorkloads } | undefined;

  constructor(
    readonly pods: Informer<V1Pod>,
    readonly jobs: Informer<V1Job>,
    readonly deployments: Informer<V1Deployment>,
    readonly claims: Informer<V1PersistentVolumeClaim>,
  ) {
    this.observedPods = new Converted(pods, observePod);
    this.observedJobs = new Converted(jobs, observeJob);
    this.observedDeployments = new Converted(deployments, observeDeployment);
    this.observedClaims = new Converted(claims, observeClaim);
    // Subscribed for the cache's whole life (it lives as long as the informers): the converted maps must see every change.
    pods.onChange((c) => this.changed(c, this.observedPods, 'Pod', (type, object) => ({ type, kind: 'Pod', object })));
    jobs.onChange((c) => this.changed(c, this.observedJobs, 'Job', (type, object) => ({ type, kind: 'Job', object })));
    deployments.onChange((c) => this.changed(c, this.observedDeployments, 'Deployment', (type, object) => ({ type, kind: 'Deployment', object })));
    claims.onChange((c) => this.changed(c, this.observedClaims, 'Claim', (type, object) => ({ type, kind: 'Claim', object })));
  }

  snapshot(): ObservedWorkloads {
    const versions = `${this.observedPods.version}/${this.observedJobs.version}/${this.observedDeployments.version}/${this.observedClaims.version}`;
    if (this.memo?.versions !== versions) {
      this.memo = {
        versions,
        snapshot: {
          pods: [...this.observedPods.byName.values()],
          jobs: [...this.observedJobs.byName.values()],
          deployments: [...this.observedDeployments.byName.values()],
          claims: [...this.observedClaims.byName.values()],
        },
      };
    }
    return this.memo.snapshot;
  }

  synced(): boolean {
    return this.pods.synced() && this.jobs.synced() && this.deployments.synced() && this.claims.synced();
  }

  onChange(listener: (change: WorkloadChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed<K extends KubernetesObject, O extends { name: string }>(
    c: CollectionChange<K>,
    converted: Converted<K, O>,
    kind: WorkloadChange['kind'],
    change: (type: 'added' | 'modified' | 'deleted', object: O) => WorkloadChange,
  ): void {
    if (c.type === 'reset') {
      converted.reset();
      this.emit({ type: 'reset', kind });
    } else {
      this.emit(change(c.type, converted.apply(c.type, c.object)));
    }
  }

  private emit(change: WorkloadChange): void {
    for (const l of this.listeners) l(change);
  }
}

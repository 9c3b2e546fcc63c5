/**
 * The managed Pods and Jobs of our namespace, as the core's WorkloadView.
 * Each object is converted once, when its change arrives, and kept by name;
 * only a relist converts the whole collection again. snapshot() copies the
 * converted objects out when someone asks after a change.
 */
import type { KubernetesObject, V1Job, V1Pod } from '@kubernetes/client-node';
import type { ObservedJob, ObservedPod, ObservedWorkloads } from '../../core/instances.js';
import type { WorkloadChange, WorkloadView } from '../../core/ports.js';
import { observeJob, observePod } from './observe.js';
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
  private memo: { podsVersion: number; jobsVersion: number; snapshot: ObservedWorkloads } | undefined;

  constructor(
    readonly pods: Informer<V1Pod>,
    readonly jobs: Informer<V1Job>,
  ) {
    this.observedPods = new Converted(pods, observePod);
    this.observedJobs = new Converted(jobs, observeJob);
    // Subscribed for the cache's whole life (it lives as long as the informers): the converted maps must see every change.
    pods.onChange((c) => this.podChanged(c));
    jobs.onChange((c) => this.jobChanged(c));
  }

  snapshot(): ObservedWorkloads {
    const podsVersion = this.observedPods.version;
    const jobsVersion = this.observedJobs.version;
    if (this.memo?.podsVersion !== podsVersion || this.memo.jobsVersion !== jobsVersion) {
      this.memo = {
        podsVersion,
        jobsVersion,
        snapshot: { pods: [...this.observedPods.byName.values()], jobs: [...this.observedJobs.byName.values()] },
      };
    }
    return this.memo.snapshot;
  }

  synced(): boolean {
    return this.pods.synced() && this.jobs.synced();
  }

  onChange(listener: (change: WorkloadChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private podChanged(c: CollectionChange<V1Pod>): void {
    if (c.type === 'reset') {
      this.observedPods.reset();
      this.emit({ type: 'reset', kind: 'Pod' });
    } else {
      this.emit({ type: c.type, kind: 'Pod', object: this.observedPods.apply(c.type, c.object) });
    }
  }

  private jobChanged(c: CollectionChange<V1Job>): void {
    if (c.type === 'reset') {
      this.observedJobs.reset();
      this.emit({ type: 'reset', kind: 'Job' });
    } else {
      this.emit({ type: c.type, kind: 'Job', object: this.observedJobs.apply(c.type, c.object) });
    }
  }

  private emit(change: WorkloadChange): void {
    for (const l of this.listeners) l(change);
  }
}

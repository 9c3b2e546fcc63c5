/**
 * The watched collections the daemon keeps, built from one place so each
 * differs from the next only in what it watches.
 */
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../core/ports.js';
import type { KubeClients } from './client.js';
import { WatchedCollection } from './watched.js';

export interface CollectionSettings {
  readonly namespace: string;
  /** The label selector that picks our workloads. */
  readonly selector: string;
  readonly resyncMs: number;
  readonly log: Logger;
}

export interface Collections {
  /** Our Pods in our namespace. */
  managedPods(): WatchedCollection<V1Pod>;
  /** Our Jobs in our namespace. */
  managedJobs(): WatchedCollection<V1Job>;
  /** Every node: what resource.mode auto offers. */
  nodes(): WatchedCollection<V1Node>;
  /** Every pod in the cluster: what others already hold on the nodes (resource.mode auto). */
  allPods(): WatchedCollection<V1Pod>;
}

export function collections(kube: KubeClients, settings: CollectionSettings): Collections {
  const { namespace, selector, resyncMs, log } = settings;
  const common = { kubeConfig: kube.kubeConfig, resyncMs, log };
  return {
    managedPods: () =>
      new WatchedCollection<V1Pod>({
        ...common,
        name: 'pods',
        path: `/api/v1/namespaces/${namespace}/pods`,
        list: () => kube.core.listNamespacedPod({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedJobs: () =>
      new WatchedCollection<V1Job>({
        ...common,
        name: 'jobs',
        path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
        list: () => kube.batch.listNamespacedJob({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    nodes: () => new WatchedCollection<V1Node>({ ...common, name: 'nodes', path: '/api/v1/nodes', list: () => kube.core.listNode({}) }),
    allPods: () =>
      new WatchedCollection<V1Pod>({ ...common, name: 'all-pods', path: '/api/v1/pods', list: () => kube.core.listPodForAllNamespaces({}) }),
  };
}

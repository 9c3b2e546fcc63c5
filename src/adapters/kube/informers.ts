/**
 * The informers the daemon keeps, built from one place so each
 * differs from the next only in what it watches.
 */
import type { V1Deployment, V1Job, V1Node, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../core/ports.js';
import type { KubeClients } from './client.js';
import { Informer } from './informer.js';

export interface InformerSettings {
  readonly namespace: string;
  /** The label selector that picks our workloads. */
  readonly selector: string;
  readonly resyncMs: number;
  readonly log: Logger;
}

export interface Informers {
  /** Our Pods in our namespace. */
  managedPods(): Informer<V1Pod>;
  /** Our Jobs in our namespace. */
  managedJobs(): Informer<V1Job>;
  /** Our Deployments in our namespace. */
  managedDeployments(): Informer<V1Deployment>;
  /** Our PersistentVolumeClaims in our namespace (the storage books). */
  managedClaims(): Informer<V1PersistentVolumeClaim>;
  /** Every node: what resource.mode auto offers. */
  nodes(): Informer<V1Node>;
  /** Every pod in the cluster: what others already hold on the nodes (resource.mode auto). */
  allPods(): Informer<V1Pod>;
}

export function informers(kube: KubeClients, settings: InformerSettings): Informers {
  const { namespace, selector, resyncMs, log } = settings;
  const common = { kubeConfig: kube.kubeConfig, resyncMs, log };
  return {
    managedPods: () =>
      new Informer<V1Pod>({
        ...common,
        name: 'pods',
        path: `/api/v1/namespaces/${namespace}/pods`,
        list: () => kube.core.listNamespacedPod({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedJobs: () =>
      new Informer<V1Job>({
        ...common,
        name: 'jobs',
        path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
        list: () => kube.batch.listNamespacedJob({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedDeployments: () =>
      new Informer<V1Deployment>({
        ...common,
        name: 'deployments',
        path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
        list: () => kube.apps.listNamespacedDeployment({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedClaims: () =>
      new Informer<V1PersistentVolumeClaim>({
        ...common,
        name: 'persistentvolumeclaims',
        path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
        list: () => kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    nodes: () => new Informer<V1Node>({ ...common, name: 'nodes', path: '/api/v1/nodes', list: () => kube.core.listNode({}) }),
    allPods: () => new Informer<V1Pod>({ ...common, name: 'all-pods', path: '/api/v1/pods', list: () => kube.core.listPodForAllNamespaces({}) }),
  };
}

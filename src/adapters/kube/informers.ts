/**
 * The informers the daemon keeps, built from one place so each
 * differs from the next only in what it watches.
 */
import type { V1Deployment, V1Job, V1NetworkPolicy, V1Node, V1PersistentVolumeClaim, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../core/ports.js';
import type { WatchEventObserver } from '../../shared/observability.js';
import type { KubeClients } from './client.js';
import { Informer } from './informer.js';
import { slimClaim, slimDeployment, slimJob, slimPod } from './slim.js';
import { listAll } from './slim-list.js';

export interface InformerSettings {
  readonly namespace: string;
  /** The label selector that picks our workloads. */
  readonly selector: string;
  readonly resyncMs: number;
  /** Items per list request (kubernetes.list_page_size). */
  readonly pageSize: number;
  readonly log: Logger;
  readonly events?: WatchEventObserver | undefined;
}

export interface Informers {
  /** Our Pods in our namespace. */
  managedPods(): Informer<V1Pod>;
  /** Our Jobs in our namespace. */
  managedJobs(): Informer<V1Job>;
  /** Our instances' Services in our namespace. */
  managedServices(): Informer<V1Service>;
  /** Our instances' NetworkPolicies in our namespace. */
  managedNetworkPolicies(): Informer<V1NetworkPolicy>;
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
  const { namespace, selector, resyncMs, log, events } = settings;
  const limit = settings.pageSize;
  const common = { kubeConfig: kube.kubeConfig, resyncMs, log, events };
  return {
    managedPods: () =>
      new Informer<V1Pod>({
        ...common,
        name: 'pods',
        path: `/api/v1/namespaces/${namespace}/pods`,
        list: () => listAll((cont, o) => kube.core.listNamespacedPod({ namespace, labelSelector: selector, limit, _continue: cont }, o), slimPod),
        labelSelector: selector,
        slim: slimPod,
      }),
    managedJobs: () =>
      new Informer<V1Job>({
        ...common,
        name: 'jobs',
        path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
        list: () => listAll((cont, o) => kube.batch.listNamespacedJob({ namespace, labelSelector: selector, limit, _continue: cont }, o), slimJob),
        labelSelector: selector,
        slim: slimJob,
      }),
    managedServices: () =>
      new Informer<V1Service>({
        ...common,
        name: 'services',
        path: `/api/v1/namespaces/${namespace}/services`,
        list: () => kube.core.listNamespacedService({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedNetworkPolicies: () =>
      new Informer<V1NetworkPolicy>({
        ...common,
        name: 'networkpolicies',
        path: `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`,
        list: () => kube.networking.listNamespacedNetworkPolicy({ namespace, labelSelector: selector }),
        labelSelector: selector,
      }),
    managedDeployments: () =>
      new Informer<V1Deployment>({
        ...common,
        name: 'deployments',
        path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
        list: () => listAll((cont, o) => kube.apps.listNamespacedDeployment({ namespace, labelSelector: selector, limit, _continue: cont }, o), slimDeployment),
        labelSelector: selector,
        slim: slimDeployment,
      }),
    managedClaims: () =>
      new Informer<V1PersistentVolumeClaim>({
        ...common,
        name: 'persistentvolumeclaims',
        path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
        list: () =>
          listAll((cont, o) => kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector, limit, _continue: cont }, o), slimClaim),
        labelSelector: selector,
        slim: slimClaim,
      }),
    nodes: () => new Informer<V1Node>({ ...common, name: 'nodes', path: '/api/v1/nodes', list: () => kube.core.listNode({}) }),
    allPods: () =>
      new Informer<V1Pod>({
        ...common,
        name: 'all-pods',
        path: '/api/v1/pods',
        list: () => listAll((cont, o) => kube.core.listPodForAllNamespaces({ limit, _continue: cont }, o), slimPod),
        slim: slimPod,
      }),
  };
}

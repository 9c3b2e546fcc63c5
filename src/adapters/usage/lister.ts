/** The one API call of the metrics poller: list our namespace's PodMetrics. */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { abortWith } from '../../shared/kube-abort.js';

/** Lists metrics.k8s.io/v1beta1 PodMetrics of `namespace` matching `labelSelector`; `signal` aborts the request. */
export function podMetricsLister(custom: CustomObjectsApi, namespace: string, labelSelector: string): (signal: AbortSignal) => Promise<unknown> {
  return (signal) =>
    custom.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods', labelSelector }, abortWith(signal));
}

/** The one API call of the metrics poller: list our namespace's PodMetrics. */
import { Observable, type ConfigurationOptions, type CustomObjectsApi, type ObservableMiddleware } from '@kubernetes/client-node';

/** Per-call options that tie the request to `signal`: the generated clients take no AbortSignal otherwise. */
function abortWith(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new Observable(Promise.resolve(ctx)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** Lists metrics.k8s.io/v1beta1 PodMetrics of `namespace` matching `labelSelector`; `signal` aborts the request. */
export function podMetricsLister(custom: CustomObjectsApi, namespace: string, labelSelector: string): (signal: AbortSignal) => Promise<unknown> {
  return (signal) =>
    custom.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods', labelSelector }, abortWith(signal));
}

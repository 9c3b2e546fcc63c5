/** The one API call of the metrics poller: list our namespace's PodMetrics. */
import type { ConfigurationOptions, CustomObjectsApi, Middleware, PromiseConfigurationOptions } from '@kubernetes/client-node';

/**
 * The object API declares observable middleware for its per-call options but
 * wraps each one as a promise middleware at run time (client-node 1.4.0), so
 * the promise form is the one that works; hence the cast.
 */
function abortWith(signal: AbortSignal): ConfigurationOptions {
  const middleware: Middleware = {
    pre: async (ctx) => {
      ctx.setSignal(signal);
      return ctx;
    },
    post: async (ctx) => ctx,
  };
  const options: PromiseConfigurationOptions = { middleware: [middleware], middlewareMergeStrategy: 'append' };
  return options as unknown as ConfigurationOptions;
}

/** Lists metrics.k8s.io/v1beta1 PodMetrics of `namespace` matching `labelSelector`; `signal` aborts the request. */
export function podMetricsLister(custom: CustomObjectsApi, namespace: string, labelSelector: string): (signal: AbortSignal) => Promise<unknown> {
  return (signal) =>
    custom.listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods', labelSelector }, abortWith(signal));
}

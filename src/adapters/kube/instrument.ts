/**
 * Counts Kubernetes API requests per operation. The generated clients that
 * kc.makeApiClient builds expose no middleware hook, and wrapping withRetry
 * alone would miss the informers' list calls; a Proxy around each API object
 * sees every call however it is made, each retry attempt included.
 * The long-lived watch streams are not API calls in this sense: their health
 * shows in the informer restart and last-event metrics instead.
 */
import { httpStatusOf } from '../../shared/kube-api-errors.js';
import type { KubeApiObserver } from '../../shared/observability.js';
import type { KubeClients } from './client.js';

export type { KubeApiObserver };

export function errorCodeOf(err: unknown): string {
  const code = httpStatusOf(err);
  return code === undefined ? 'network' : String(code);
}

/** The same API object, reporting every method call that returns a promise. */
export function instrumentApi<T extends object>(api: T, observer: KubeApiObserver): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'constructor' || typeof prop !== 'string') return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const original = value as (...args: unknown[]) => unknown;
        fn = function (this: unknown, ...args: unknown[]): unknown {
          const started = process.hrtime.bigint();
          const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
          const result = original.apply(target, args);
          if (!(result instanceof Promise)) return result;
          return result.then(
            (v: unknown) => {
              observer.apiCallFinished(prop, seconds(), undefined);
              return v;
            },
            (err: unknown) => {
              observer.apiCallFinished(prop, seconds(), errorCodeOf(err));
              throw err;
            },
          );
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

export function instrumentClients(clients: KubeClients, observer: KubeApiObserver): KubeClients {
  return {
    ...clients,
    core: instrumentApi(clients.core, observer),
    batch: instrumentApi(clients.batch, observer),
    apps: instrumentApi(clients.apps, observer),
    authz: instrumentApi(clients.authz, observer),
    custom: instrumentApi(clients.custom, observer),
    coordination: instrumentApi(clients.coordination, observer),
    networking: instrumentApi(clients.networking, observer),
    events: instrumentApi(clients.events, observer),
  };
}

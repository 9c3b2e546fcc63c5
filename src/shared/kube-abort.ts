/** Ties one generated-client call to an AbortSignal: the generated clients take none otherwise. Shared by the kube and usage adapters. */
import { Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node';

export function abortWith(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new Observable(Promise.resolve(ctx)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

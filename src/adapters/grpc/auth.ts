/**
 * Bearer-token authentication as a server interceptor: it sits in front of
 * every method of every registered service (a service added later is covered
 * without doing anything), and a call without a valid token is answered
 * UNAUTHENTICATED before its request reaches a handler, so it changes
 * nothing. Services named open (health, reflection, by config) pass through.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/ports.js';
import type { RpcObserver } from '../../shared/observability.js';
import type { TokenVerifier } from './token-file.js';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';
export const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'] as const;

export interface AuthOptions {
  readonly tokens: TokenVerifier;
  /** Fully-qualified services that need no token. */
  readonly openServices: ReadonlySet<string>;
  readonly log: Logger;
  readonly observer?: RpcObserver | undefined;
}

/** "/provider.Service/Deploy" -> ["provider.Service", "Deploy"]. */
function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return [path.slice(1, slash), path.slice(slash + 1)];
}

/** Why the metadata does not authenticate the call, or undefined when it does. */
export function authProblem(metadata: grpc.Metadata, tokens: TokenVerifier): string | undefined {
  const values = metadata.get('authorization');
  if (values.length === 0) return 'missing "authorization: Bearer <token>" metadata';
  if (values.length > 1) return 'more than one authorization value';
  const value = String(values[0]);
  const token = /^bearer +(\S+) *$/i.exec(value)?.[1];
  if (token === undefined) return 'authorization metadata is not "Bearer <token>"';
  if (!tokens.verify(token)) return 'invalid bearer token';
  return undefined;
}

export function authInterceptor(options: AuthOptions): grpc.ServerInterceptor {
  const { tokens, openServices, log, observer } = options;
  return (descriptor, call) => {
    const [service, method] = splitPath(descriptor.path);
    if (openServices.has(service)) return new grpc.ServerInterceptingCall(call);
    const started = process.hrtime.bigint();
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const problem = authProblem(metadata, tokens);
            if (problem === undefined) {
              // Handlers never need the token; nothing downstream can log what it never sees.
              metadata.remove('authorization');
              pass(metadata);
              return;
            }
            // Not passing the metadata on holds back the request and half-close too: the handler never runs.
            log.warn({ service, method, peer: call.getPeer(), code: 'UNAUTHENTICATED', error: problem }, 'rpc refused');
            observer?.rpcFinished(service, method, 'UNAUTHENTICATED', Number(process.hrtime.bigint() - started) / 1e9);
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: problem, metadata: new grpc.Metadata() });
          },
        }),
    });
  };
}

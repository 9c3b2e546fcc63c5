/** The CLI's gRPC side: clients for the provider service, the instance service and grpc.health.v1. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loadInstancesProto, loadProto } from '../adapters/grpc/contract.js';
import type { InstancesClient, ServiceClient } from '../adapters/grpc/contract.js';
import { UsageError, type CommonFlags, type TlsFlags } from './args.js';

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

export function channelCredentials(tls: TlsFlags | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    tls.ca ? readFlagFile('--tls-ca', tls.ca) : null,
    tls.key ? readFlagFile('--tls-key', tls.key) : null,
    tls.cert ? readFlagFile('--tls-cert', tls.cert) : null,
  );
}

/** The first token in the file, in the daemon's format: one per line, blank lines and # comments skipped. */
export function readToken(path: string): string {
  const token = readFlagFile('--token-file', path)
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  if (!token) throw new UsageError(`--token-file ${path}: no token in the file`);
  return token;
}

/** Adds the bearer token to every call: works over plaintext too, where call credentials are refused. */
function bearer(token: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start: (metadata, listener, proceed) => {
        metadata.set('authorization', `Bearer ${token}`);
        proceed(metadata, listener);
      },
    });
}

function channelOptions(common: CommonFlags): grpc.ClientOptions {
  return {
    ...(common.tls?.serverName ? { 'grpc.ssl_target_name_override': common.tls.serverName, 'grpc.default_authority': common.tls.serverName } : {}),
    ...(common.tokenFile !== undefined ? { interceptors: [bearer(readToken(common.tokenFile))] } : {}),
  };
}

export function providerClient(common: CommonFlags): ServiceClient {
  const { grpcObject } = loadProto();
  return new grpcObject.provider.Service(common.addr, channelCredentials(common.tls), channelOptions(common));
}

type UnaryMethod = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientUnaryCall;

/** Calls one unary method with the CLI's deadline; rejects with the grpc ServiceError. `onMetadata` sees the response headers. */
export function unary<Res>(
  client: grpc.Client,
  method: string,
  request: object,
  deadlineSeconds: number,
  onMetadata?: (md: grpc.Metadata) => void,
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (!fn) throw new Error(`the client has no method ${method}`);
  return new Promise((resolve, reject) => {
    const call = fn.call(client, request, { deadline: Date.now() + deadlineSeconds * 1000 }, (err, res) => (err ? reject(err) : resolve(res as Res)));
    if (onMetadata) call.on('metadata', onMetadata);
  });
}

export function healthClient(common: CommonFlags): grpc.Client {
  const def = protoLoader.loadSync('health/v1/health.proto', { includeDirs: [dirname(dirname(dirname(healthProtoPath)))], keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  return new pkg.grpc.health.v1.Health(common.addr, channelCredentials(common.tls), channelOptions(common));
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return typeof (err as grpc.ServiceError | null)?.code === 'number' && 'details' in (err as object);
}

export const codeName = (code: number): string => grpc.status[code] ?? String(code);

export function instancesClient(common: CommonFlags): InstancesClient {
  const { grpcObject } = loadInstancesProto();
  return new grpcObject.k8sprovider.v1.Instances(common.addr, channelCredentials(common.tls), channelOptions(common));
}

/**
 * Reads a server stream to its end, handing each message to `onMessage`.
 * Resolves when the server ends the stream or `signal` aborts (cancelling
 * the call); rejects with the ServiceError otherwise.
 */
export function readStream<T>(
  stream: grpc.ClientReadableStream<T>,
  onMessage: (m: T) => void,
  signal: AbortSignal | undefined,
): Promise<'ended' | 'cancelled'> {
  return new Promise((resolve, reject) => {
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
      stream.cancel();
    };
    signal?.addEventListener('abort', cancel, { once: true });
    stream.on('data', onMessage);
    stream.on('error', (err: grpc.ServiceError) => {
      signal?.removeEventListener('abort', cancel);
      if (cancelled && err.code === grpc.status.CANCELLED) resolve('cancelled');
      else reject(err);
    });
    stream.on('end', () => {
      signal?.removeEventListener('abort', cancel);
      resolve(cancelled ? 'cancelled' : 'ended');
    });
  });
}

/** The gRPC server: binding, transport options and a bounded graceful shutdown. */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/ports.js';

export interface ServerOptions {
  readonly maxReceiveMessageBytes: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer | undefined } | undefined;
  /** Run in front of every method of every service (authentication). */
  readonly interceptors?: readonly grpc.ServerInterceptor[];
}

export function createServer(options: ServerOptions): grpc.Server {
  return new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
    // grpc-js leaves server keepalive pings effectively off; without them a
    // control plane that vanished behind a NAT holds its connection forever.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    // Clients (e.g. grpc-go with keepalive) may ping every 10 s without being cut off.
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_connection_idle_ms': 30 * 60_000,
    interceptors: [...(options.interceptors ?? [])],
  });
}

export function credentialsFor(options: ServerOptions): grpc.ServerCredentials {
  if (!options.tls) return grpc.ServerCredentials.createInsecure();
  const { cert, key, clientCa } = options.tls;
  return grpc.ServerCredentials.createSsl(clientCa ?? null, [{ cert_chain: cert, private_key: key }], clientCa !== undefined);
}

export function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/**
 * Stops taking calls and lets in-flight ones finish. tryShutdown can wait
 * forever on half-closed streams, so after the grace period we force it.
 */
export function shutdown(server: grpc.Server, graceMs: number, log: Logger): Promise<'graceful' | 'forced'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn({ graceMs }, 'grpc server did not drain in time; forcing shutdown');
      server.forceShutdown();
      resolve('forced');
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve('graceful');
    });
  });
}

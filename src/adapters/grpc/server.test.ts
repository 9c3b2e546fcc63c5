/** The bounded shutdown against a real grpc-js server on localhost:0. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadProto } from './proto.js';
import { bind, createServer, shutdown } from './server.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** The one method these tests call, as the generic client exposes it. */
type CapacityClient = { GetCapacity(request: object, callback: (err: grpc.ServiceError) => void): grpc.ClientUnaryCall };

async function serverWith(getCapacity: grpc.handleUnaryCall<unknown, unknown>): Promise<{ server: grpc.Server; client: grpc.Client & CapacityClient }> {
  const { grpcObject } = loadProto();
  const server = createServer({ maxReceiveMessageBytes: 1024 * 1024 });
  server.addService(grpcObject.provider.Service.service, { GetCapacity: getCapacity } as grpc.UntypedServiceImplementation);
  const port = await bind(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
  const client = new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & CapacityClient;
  return { server, client };
}

describe('shutdown', () => {
  it('lets an in-flight call finish, then stops gracefully', async () => {
    // Shut down only once the call has reached the handler: a fixed sleep races the connection on a busy machine.
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    const { server, client } = await serverWith((_call, cb) => {
      arrived();
      setTimeout(() => cb(null, {}), 100);
    });
    const answer = new Promise((resolve) => client.GetCapacity!({}, (err: unknown) => resolve(err ?? 'ok')));
    await inFlight;
    expect(await shutdown(server, 2000, silent)).toBe('graceful');
    expect(await answer).toBe('ok');
    client.close();
  });

  it('forces the shutdown when a call never ends within the grace period', async () => {
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    const { server, client } = await serverWith(() => arrived()); // never answers
    const answer = new Promise<grpc.ServiceError>((resolve) => client.GetCapacity!({}, (err: grpc.ServiceError) => resolve(err)));
    await inFlight;
    expect(await shutdown(server, 200, silent)).toBe('forced');
    expect((await answer).code).toBe(grpc.status.CANCELLED);
    client.close();
  });
});

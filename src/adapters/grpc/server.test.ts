/** The bounded shutdown against a real grpc-js server on localhost:0. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadProto } from './proto.js';
import { bind, createServer, shutdown } from './server.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function serverWith(getCapacity: grpc.handleUnaryCall<unknown, unknown>): Promise<{ server: grpc.Server; client: grpc.Client & Record<string, Function> }> {
  const { grpcObject } = loadProto();
  const server = createServer({ maxReceiveMessageBytes: 1024 * 1024 });
  server.addService(grpcObject.provider.Service.service, { GetCapacity: getCapacity } as grpc.UntypedServiceImplementation);
  const port = await bind(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
  const client = new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Function>;
  return { server, client };
}

describe('shutdown', () => {
  it('lets an in-flight call finish, then stops gracefully', async () => {
    const { server, client } = await serverWith((_call, cb) => void setTimeout(() => cb(null, {}), 100));
    const answer = new Promise((resolve) => client.GetCapacity!({}, (err: unknown) => resolve(err ?? 'ok')));
    await new Promise((r) => setTimeout(r, 30));
    expect(await shutdown(server, 2000, silent)).toBe('graceful');
    expect(await answer).toBe('ok');
    client.close();
  });

  it('forces the shutdown when a call never ends within the grace period', async () => {
    const { server, client } = await serverWith(() => {}); // never answers
    const answer = new Promise<grpc.ServiceError>((resolve) => client.GetCapacity!({}, (err: grpc.ServiceError) => resolve(err)));
    await new Promise((r) => setTimeout(r, 30));
    expect(await shutdown(server, 200, silent)).toBe('forced');
    expect((await answer).code).toBe(grpc.status.CANCELLED);
    client.close();
  });
});

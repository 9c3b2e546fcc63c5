/**
 * The baseline for the RPC load: a bare @grpc/grpc-js server with the
 * daemon's server options (the same createServer) and the same service
 * definition, answering every call with a message held in memory (the
 * daemon's own answers, captured by the bench before the run and passed as
 * a JSON file in argv[2]). No logging, no metrics, no books.
 *
 *   node --expose-gc --import ./probe.mjs bare-server.mjs answers.json port
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createServer, bind } from '../../dist/src/adapters/grpc/server.js';
import { serviceDefinition, PROVIDER_PROTO } from '../../dist/src/adapters/grpc/proto.js';

const answers = JSON.parse(readFileSync(String(process.argv[2]), 'utf8'));
const port = Number(process.argv[3]);
const server = createServer({ maxReceiveMessageBytes: 4 * 1024 * 1024 });
/** @type {grpc.UntypedServiceImplementation} */
const handlers = {};
for (const method of ['Connect', 'Disconnect', 'GetCapacity', 'GetAvailable', 'Deploy', 'HealthCheck', 'GetRealTimeUsage']) {
  const answer = answers[method] ?? {};
  handlers[method] = /** @type {grpc.handleUnaryCall<unknown, unknown>} */ ((_call, callback) => callback(null, answer));
}
server.addService(serviceDefinition(PROVIDER_PROTO, 'provider.Service'), handlers);
await bind(server, `127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure());
process.stderr.write('ready\n');
process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});

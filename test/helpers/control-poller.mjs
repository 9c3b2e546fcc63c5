/**
 * The control plane's polling as a process of its own:
 * `node control-poller.mjs PORT PROVIDER_ID [PAUSE_MS]` calls HealthCheck,
 * GetCapacity and GetAvailable in turn (5 s deadline each, PAUSE_MS apart,
 * 50 by default) until SIGTERM,
 * and writes one JSON line per call to stdout: method, start time (ms since
 * epoch), latency, outcome.
 *
 * Run apart from the test process so a latency it reports is the daemon's
 * and the machine's, not the test's: in the test process the call's answer
 * waits behind whatever else that event loop does (the slow API server's
 * TLS proxy, the test's own Kubernetes client).
 */
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../dist/src/adapters/grpc/proto.js';

const [port, providerId, pause] = process.argv.slice(2);
const pauseMs = Number(pause ?? 50);
const { grpcObject } = loadProto();
const client = new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const methods = ['HealthCheck', 'GetCapacity', 'GetAvailable'];
let running = true;
process.on('SIGTERM', () => {
  running = false;
});

// The first call opens the connection: a control plane polls over one it keeps, so that call is marked, not timed with the rest.
for (let i = 0; running; i++) {
  const method = methods[i % methods.length];
  const at = Date.now();
  const started = process.hrtime.bigint();
  const outcome = await new Promise((resolve) =>
    client[method]({ providerId }, { deadline: at + 5000 }, (err) => resolve(err ? `${grpc.status[err.code]}: ${err.details}` : 'OK')),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ method, at, ms, outcome, ...(i === 0 ? { connecting: true } : {}) })}\n`);
  await new Promise((r) => setTimeout(r, pauseMs));
}
client.close();

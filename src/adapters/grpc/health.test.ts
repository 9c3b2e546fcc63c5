import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { HealthReporter } from './health.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

type Check = (req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;

async function serve(reporter: HealthReporter): Promise<{ server: grpc.Server; check: (service: string) => Promise<string> }> {
  const server = new grpc.Server();
  reporter.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { Check: Check };
  const check = (service: string): Promise<string> =>
    new Promise((resolve, reject) => client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));
  return { server, check };
}

describe('HealthReporter', () => {
  let server: grpc.Server | undefined;
  afterEach(() => server?.forceShutdown());

  it('follows readiness for the server and provider.Service, and stays NOT_SERVING once draining', async () => {
    let ready = false;
    const reporter = new HealthReporter(() => ready, quiet, ['provider.Service'], 60_000);
    const s = await serve(reporter);
    server = s.server;
    reporter.start();
    expect(await s.check('')).toBe('NOT_SERVING');
    expect(await s.check('provider.Service')).toBe('NOT_SERVING');
    expect(await s.check('liveness')).toBe('SERVING');

    ready = true;
    reporter.refresh();
    expect(await s.check('')).toBe('SERVING');
    expect(await s.check('provider.Service')).toBe('SERVING');

    ready = false;
    reporter.refresh();
    expect(await s.check('')).toBe('NOT_SERVING');

    ready = true;
    reporter.refresh();
    reporter.drain();
    reporter.refresh();
    expect(await s.check('')).toBe('NOT_SERVING');
    expect(reporter.status()).toBe('NOT_SERVING');
    // Draining is no reason for a liveness probe to kill the pod before it has finished.
    expect(await s.check('liveness')).toBe('SERVING');
  });

  it('reports "leader" SERVING only while this replica is active, whatever readiness says', async () => {
    let leading = false;
    const reporter = new HealthReporter(
      () => true,
      quiet,
      ['provider.Service'],
      60_000,
      () => leading,
    );
    const s = await serve(reporter);
    server = s.server;
    reporter.start();
    expect(await s.check('')).toBe('SERVING');
    expect(await s.check('leader')).toBe('NOT_SERVING');
    leading = true;
    reporter.refresh();
    expect(await s.check('leader')).toBe('SERVING');
    expect(await s.check('provider.Service')).toBe('SERVING');
    reporter.drain();
    expect(await s.check('leader')).toBe('NOT_SERVING');
  });

  it('answers NOT_FOUND for a service it does not know', async () => {
    const reporter = new HealthReporter(() => true, quiet, ['provider.Service']);
    const s = await serve(reporter);
    server = s.server;
    await expect(s.check('no.Such')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('polls readiness on its own', async () => {
    let ready = false;
    const reporter = new HealthReporter(() => ready, quiet, ['provider.Service'], 20);
    const s = await serve(reporter);
    server = s.server;
    reporter.start();
    ready = true;
    await new Promise((r) => setTimeout(r, 100));
    expect(await s.check('')).toBe('SERVING');
    reporter.drain();
  });
});

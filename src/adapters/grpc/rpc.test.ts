/** The handler wrappers against a real grpc-js server on localhost:0. */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { invalidArgument, resourceExhausted } from '../../core/errors.js';
import { RpcKit, type RpcObserver, type StreamControl } from './rpc.js';
import type { PollSummary } from './poll-summary.js';
import { bind, createServer } from './server.js';

interface Req {
  providerId: string;
  count: number;
}
interface Tick {
  n: number;
}

// A hand-written definition with JSON on the wire: the wrappers do not care
// how messages are encoded, and this keeps a test-only .proto out of proto/.
const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const definition: grpc.ServiceDefinition = {
  Ticks: { path: '/test.v1.Clock/Ticks', requestStream: false, responseStream: true, ...json },
  Once: { path: '/test.v1.Clock/Once', requestStream: false, responseStream: false, ...json },
};
const Client = grpc.makeGenericClientConstructor(definition, 'Clock');
/** The two methods of the test service, as the generic client exposes them. */
type ClockClient = {
  Ticks(request: object): grpc.ClientReadableStream<Tick>;
  Once(request: object, callback: (err: grpc.ServiceError | null, res: unknown) => void): grpc.ClientUnaryCall;
};

interface Recorded {
  readonly reports: Array<[string, string, string]>;
  readonly logs: Array<{ level: string; fields: Record<string, unknown> }>;
}

function recorder(): Recorded & { observer: RpcObserver; log: { debug(): void; info(f: object): void; warn(f: object): void; error(f: object): void } } {
  const reports: Array<[string, string, string]> = [];
  const logs: Recorded['logs'] = [];
  const at = (level: string) => (fields: object) => void logs.push({ level, fields: fields as Record<string, unknown> });
  return {
    reports,
    logs,
    observer: { rpcFinished: (service, method, code) => void reports.push([service, method, code]) },
    log: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') },
  };
}

let server: grpc.Server | undefined;
let client: grpc.Client | undefined;
afterEach(() => {
  client?.close();
  server?.forceShutdown();
});

async function serve(handlers: grpc.UntypedServiceImplementation): Promise<grpc.Client & ClockClient> {
  server = createServer({ maxReceiveMessageBytes: 1024 * 1024 });
  server.addService(definition, handlers);
  const port = await bind(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return client as grpc.Client & ClockClient;
}

function collect(call: grpc.ClientReadableStream<Tick>): Promise<{ ticks: number[]; status: grpc.StatusObject }> {
  const ticks: number[] = [];
  call.on('data', (t: Tick) => ticks.push(t.n));
  call.on('error', () => {}); // the status below carries the outcome
  return new Promise((resolve) => call.on('status', (status) => resolve({ ticks, status })));
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('RpcKit.serverStream', () => {
  it('streams every message, then ends with OK, logged and reported once with the service name', async () => {
    const rec = recorder();
    const rpc = new RpcKit('test.v1.Clock', { log: rec.log, observer: rec.observer });
    const remote = await serve({
      Ticks: rpc.serverStream<Req, Tick>('Ticks', async (req, stream) => {
        for (let n = 1; n <= req.count; n++) await stream.send({ n });
      }),
    });
    const { ticks, status } = await collect(remote.Ticks!({ providerId: 'p1', count: 5 }));
    expect(ticks).toEqual([1, 2, 3, 4, 5]);
    expect(status.code).toBe(grpc.status.OK);
    expect(rec.reports).toEqual([['test.v1.Clock', 'Ticks', 'OK']]);
    expect(rec.logs).toHaveLength(1);
    expect(rec.logs[0]).toMatchObject({ level: 'info', fields: { service: 'test.v1.Clock', method: 'Ticks', providerId: 'p1', code: 'OK', messages: 5 } });
  });

  it('maps a thrown domain error to its status after the messages already sent', async () => {
    const rec = recorder();
    const rpc = new RpcKit('test.v1.Clock', { log: rec.log, observer: rec.observer });
    const remote = await serve({
      Ticks: rpc.serverStream<Req, Tick>('Ticks', async (_req, stream) => {
        await stream.send({ n: 1 });
        throw resourceExhausted('no room left');
      }),
    });
    const { ticks, status } = await collect(remote.Ticks!({ providerId: 'p1', count: 3 }));
    expect(ticks).toEqual([1]);
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toBe('no room left');
    expect(rec.reports).toEqual([['test.v1.Clock', 'Ticks', 'RESOURCE_EXHAUSTED']]);
    expect(rec.logs.map((l) => l.level)).toEqual(['warn']);
  });

  it('observes a client cancel: the handler sees its signal abort and the call counts as CANCELLED', async () => {
    const rec = recorder();
    const rpc = new RpcKit('test.v1.Clock', { log: rec.log, observer: rec.observer });
    let handlerSawAbort = false;
    let sentAfterAbort = 0;
    const remote = await serve({
      Ticks: rpc.serverStream<Req, Tick>('Ticks', async (_req, stream: StreamControl<Tick>) => {
        await stream.send({ n: 1 });
        await new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve(), { once: true }));
        handlerSawAbort = true;
        await stream.send({ n: 2 }); // must be dropped, not written to a closed call
        sentAfterAbort++;
      }),
    });
    const call = remote.Ticks!({ providerId: 'p1', count: 0 }) as grpc.ClientReadableStream<Tick>;
    const outcome = collect(call);
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    expect((await outcome).status.code).toBe(grpc.status.CANCELLED);
    await until(() => rec.reports.length > 0);
    expect(handlerSawAbort).toBe(true);
    expect(sentAfterAbort).toBe(1);
    expect(rec.reports).toEqual([['test.v1.Clock', 'Ticks', 'CANCELLED']]);
    expect(rec.logs).toHaveLength(1);
    expect(rec.logs[0]!.fields).toMatchObject({ code: 'CANCELLED', messages: 1 });
  });
});

describe('RpcKit.unary', () => {
  it('answers a failure as a status, or in band when the method asks for it', async () => {
    const rec = recorder();
    const rpc = new RpcKit('test.v1.Clock', { log: rec.log, observer: rec.observer });
    const remote = await serve({
      Once: rpc.unary<Req, Tick | { error: string }>(
        'Once',
        (req) => {
          if (req.count < 0) throw invalidArgument('count must be >= 0');
          return { n: req.count };
        },
        undefined,
      ),
    });
    const ask = (count: number): Promise<{ err: grpc.ServiceError | null; res: unknown }> =>
      new Promise((resolve) => remote.Once!({ providerId: 'p1', count }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res })));
    expect((await ask(2)).res).toEqual({ n: 2 });
    const failed = await ask(-1);
    expect(failed.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(failed.err?.details).toBe('count must be >= 0');
    expect(rec.reports).toEqual([
      ['test.v1.Clock', 'Once', 'OK'],
      ['test.v1.Clock', 'Once', 'INVALID_ARGUMENT'],
    ]);

    const inBand = new RpcKit('test.v1.Clock', { log: rec.log });
    server!.forceShutdown();
    const remote2 = await serve({
      Once: inBand.unary<Req, { error: string }>(
        'Once',
        () => {
          throw invalidArgument('bad');
        },
        (error) => ({ error }),
      ),
    });
    const answer = await new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) =>
      remote2.Once!({ providerId: 'p1', count: 1 }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res })),
    );
    expect(answer.err).toBeNull();
    expect(answer.res).toEqual({ error: 'INVALID_ARGUMENT: bad' });
  });
});

describe('RpcKit.unary answers and reports', () => {
  it('answers alike from a value and from a promise; a rejection maps like a throw', async () => {
    const rec = recorder();
    const rpc = new RpcKit('test.v1.Clock', { log: rec.log, observer: rec.observer });
    const remote = await serve({
      Once: rpc.unary<Req, Tick>('Once', async (req) => {
        await new Promise((r) => setTimeout(r, 5));
        if (req.count > 9) throw resourceExhausted('too many');
        return { n: req.count * 2 };
      }),
    });
    const ask = (count: number): Promise<{ err: grpc.ServiceError | null; res: unknown }> =>
      new Promise((resolve) => remote.Once!({ providerId: 'p1', count }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res })));
    expect((await ask(3)).res).toEqual({ n: 6 });
    const failed = await ask(10);
    expect(failed.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(failed.err?.details).toBe('too many');
    await until(() => rec.reports.length === 2);
    expect(rec.reports).toEqual([
      ['test.v1.Clock', 'Once', 'OK'],
      ['test.v1.Clock', 'Once', 'RESOURCE_EXHAUSTED'],
    ]);
    expect(rec.logs.map((l) => [l.level, l.fields.code, l.fields.providerId])).toEqual([
      ['info', 'OK', 'p1'],
      ['warn', 'RESOURCE_EXHAUSTED', 'p1'],
    ]);
  });

  it('counts a successful poll in the summary, and builds its debug line only when debug is on', async () => {
    const debugLines: Array<Record<string, unknown>> = [];
    let debugOn = false;
    const log = {
      debug: (f: object) => void debugLines.push(f as Record<string, unknown>),
      info() {},
      warn() {},
      error() {},
      isLevelEnabled: (level: string) => level !== 'debug' || debugOn,
    };
    const counted: Array<[string, string]> = [];
    const polls = { count: (service: string, method: string) => void counted.push([service, method]) } as unknown as PollSummary;
    const rpc = new RpcKit('provider.Service', { log, polls });
    const remote = await serve({ Once: rpc.unary<Req, Tick>('HealthCheck', (req) => ({ n: req.count })) });
    const ask = (): Promise<unknown> => new Promise((resolve) => remote.Once!({ providerId: 'p1', count: 1 }, (_e: unknown, res: unknown) => resolve(res)));
    await ask();
    await until(() => counted.length === 1);
    expect(debugLines).toEqual([]);
    debugOn = true;
    await ask();
    await until(() => counted.length === 2);
    expect(counted).toEqual([
      ['provider.Service', 'HealthCheck'],
      ['provider.Service', 'HealthCheck'],
    ]);
    expect(debugLines).toEqual([{ service: 'provider.Service', method: 'HealthCheck', providerId: 'p1', durationMs: expect.any(Number), code: 'OK' }]);
  });
});

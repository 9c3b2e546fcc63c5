import { ApiException } from '@kubernetes/client-node';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObservedPod, ObservedWorkloads } from '../../core/instances.js';
import type { Clock, Logger, WorkloadView } from '../../core/ports.js';
import { UsagePoller, describeFailure, metricsApiMissing, type Scheduler } from './poller.js';
import type { PodMetricsList } from './pod-metrics.js';

const MI = 2 ** 20;
const INTERVAL = 15_000;
const T0 = 1_700_000_000_000;

// ---- in-memory versions of the ports the poller needs ------------------------

class ManualClock implements Clock {
  t = T0;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

class ManualScheduler implements Scheduler {
  private readonly tasks = new Set<{ ms: number; fn: () => void }>();
  private waits: Array<{ at: number; resolve: () => void }> = [];
  private elapsed = 0;
  every(ms: number, fn: () => void): () => void {
    const task = { ms, fn };
    this.tasks.add(task);
    return () => this.tasks.delete(task);
  }
  /** Time passes only when a test says so (elapse). */
  after(ms: number): Promise<void> {
    return new Promise((resolve) => this.waits.push({ at: this.elapsed + ms, resolve }));
  }
  elapse(ms: number): void {
    this.elapsed += ms;
    const due = this.waits.filter((w) => w.at <= this.elapsed);
    this.waits = this.waits.filter((w) => w.at > this.elapsed);
    for (const w of due) w.resolve();
  }
  tick(): void {
    for (const t of this.tasks) t.fn();
  }
  get scheduled(): number[] {
    return [...this.tasks].map((t) => t.ms);
  }
}

class Cache implements WorkloadView {
  observed: ObservedWorkloads = { pods: [], jobs: [] };
  isSynced = true;
  snapshot(): ObservedWorkloads {
    return this.observed;
  }
  synced(): boolean {
    return this.isSynced;
  }
  onChange(): () => void {
    return () => {};
  }
  setPods(pods: ObservedPod[]): void {
    this.observed = { pods, jobs: [] };
  }
}

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}
class Recorder implements Logger {
  lines: Line[] = [];
  debug(obj: object, msg?: string): void {
    this.lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg });
  }
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  above(level: 'info'): Line[] {
    return this.lines.filter((l) => l.level !== 'debug' && (level === 'info' || l.level !== 'info'));
  }
}

/** The metrics API as seen through `list`: each call waits for the test to answer it. */
class MetricsApi {
  calls: Array<{ signal: AbortSignal; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  /** Honours the signal as fetch does: an abort rejects with the signal's reason. */
  list = (signal: AbortSignal): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const call = { signal, resolve, reject };
      this.calls.push(call);
      signal.addEventListener('abort', () => {
        this.calls = this.calls.filter((c) => c !== call);
        reject(signal.reason);
      });
    });
  get pending(): number {
    return this.calls.length;
  }
  answer(list: PodMetricsList): void {
    this.next().resolve(list);
  }
  fail(err: unknown): void {
    this.next().reject(err);
  }
  private next(): MetricsApi['calls'][number] {
    const call = this.calls.shift();
    if (!call) throw new Error('no list call is waiting');
    return call;
  }
}

function running(name: string, instanceId: string, requests = { cpu: 100, memory: MI, gpu: 0 }): ObservedPod {
  return { name, instanceId, phase: 'Running', requests, terminating: false };
}

function metrics(...pods: Array<[name: string, cpu: string, memory: string]>): PodMetricsList {
  return { items: pods.map(([name, cpu, memory]) => ({ metadata: { name }, containers: [{ name: 'main', usage: { cpu, memory } }] })) };
}

const apiError = (code: number, message: string): ApiException<string> =>
  new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: 'Status', status: 'Failure', message, code }), {});

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- tests --------------------------------------------------------------------

let clock: ManualClock;
let scheduler: ManualScheduler;
let cache: Cache;
let log: Recorder;
let api: MetricsApi;
let poller: UsagePoller;

beforeEach(() => {
  clock = new ManualClock();
  scheduler = new ManualScheduler();
  cache = new Cache();
  log = new Recorder();
  api = new MetricsApi();
  poller = new UsagePoller({ list: api.list, view: cache, intervalMs: INTERVAL, clock, log, scheduler });
});

/** Runs one poll to completion with the given answer. */
async function pollWith(answer: PodMetricsList | Error): Promise<string> {
  const outcome = poller.poll();
  if (answer instanceof Error) api.fail(answer);
  else api.answer(answer);
  return outcome;
}

describe('UsagePoller on the metrics path', () => {
  it('answers from the last sample: exact figures per instance, sampledAt of the list, source metrics', async () => {
    cache.setPods([running('iarnet-a', 'tenant/a'), running('iarnet-b', 'b')]);
    clock.advance(1000);
    expect(await pollWith(metrics(['iarnet-a', '250m', '100Mi'], ['iarnet-b', '1500000000n', '2048Ki']))).toBe('ok');
    clock.advance(5000);
    expect(poller.current()).toEqual({
      total: { cpu: 1750, memory: 102 * MI, gpu: 0 },
      perInstance: new Map([
        ['tenant/a', { cpu: 250, memory: 100 * MI, gpu: 0 }],
        ['b', { cpu: 1500, memory: 2 * MI, gpu: 0 }],
      ]),
      source: 'metrics',
      sampledAt: T0 + 1000,
      stale: false,
    });
  });

  it('takes GPUs from Running pods of the cache, never from the API, including instances metrics-server has not seen yet', async () => {
    cache.setPods([
      running('iarnet-a', 'a', { cpu: 1000, memory: MI, gpu: 2 }),
      running('iarnet-new', 'new', { cpu: 1000, memory: MI, gpu: 1 }),
      { ...running('iarnet-pending', 'pending', { cpu: 1000, memory: MI, gpu: 4 }), phase: 'Pending' },
    ]);
    await pollWith(metrics(['iarnet-a', '10m', '1Mi']));
    expect(poller.current()).toMatchObject({
      total: { cpu: 10, memory: MI, gpu: 3 },
      perInstance: new Map([
        ['a', { cpu: 10, memory: MI, gpu: 2 }],
        ['new', { cpu: 0, memory: 0, gpu: 1 }],
      ]),
      source: 'metrics',
    });
    // the GPU pod ends: the very next answer shows it, without another poll
    cache.setPods([running('iarnet-a', 'a', { cpu: 1000, memory: MI, gpu: 2 })]);
    expect(poller.current().total).toEqual({ cpu: 10, memory: MI, gpu: 2 });
  });

  it('costs the API nothing per answer and rebuilds nothing while inputs are unchanged', async () => {
    cache.setPods([running('iarnet-a', 'a')]);
    await pollWith(metrics(['iarnet-a', '10m', '1Mi']));
    const first = poller.current();
    for (let i = 0; i < 10_000; i++) poller.current();
    expect(api.pending).toBe(0);
    expect(poller.stats().pollsTotal).toBe(1);
    expect(poller.current().perInstance).toBe(first.perInstance);
  });

  it('skips a tick while the previous list is still running, and counts it', async () => {
    const first = poller.start(); // its first list stays in flight
    expect(await poller.poll()).toBe('skipped');
    scheduler.tick();
    scheduler.tick();
    expect(api.pending).toBe(1); // not queued
    expect(poller.stats()).toMatchObject({ pollsTotal: 1, pollsSkipped: 3 });
    api.answer(metrics());
    await first;
    expect(poller.current().source).toBe('metrics');
    const next = poller.poll();
    expect(api.pending).toBe(1);
    api.answer(metrics());
    expect(await next).toBe('ok');
    expect(poller.stats()).toMatchObject({ pollsTotal: 2, pollsSkipped: 3, pollsFailed: 0 });
  });

  it('start() polls at once, then every interval; stop() cancels the timer and aborts the list in flight', async () => {
    const started = poller.start();
    expect(api.pending).toBe(1);
    expect(scheduler.scheduled).toEqual([INTERVAL]);
    api.answer(metrics());
    await started;
    expect(poller.current().source).toBe('metrics');
    scheduler.tick();
    expect(api.pending).toBe(1);
    const { signal } = api.calls[0]!;
    poller.stop();
    expect(signal.aborted).toBe(true);
    expect(scheduler.scheduled).toEqual([]);
    await settle();
    expect(poller.stats().pollsFailed).toBe(0); // being stopped is not a failure
  });
});

describe('staleness', () => {
  beforeEach(async () => {
    cache.setPods([running('iarnet-a', 'a')]);
    const started = poller.start();
    api.answer(metrics(['iarnet-a', '300m', '64Mi']));
    await started;
  });

  it('keeps the last figures through passing failures, flags them stale once older than three intervals, fresh again on success', async () => {
    const network = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    for (let i = 1; i <= 3; i++) {
      clock.advance(INTERVAL);
      scheduler.tick();
      api.fail(network);
      await settle();
    }
    // exactly three intervals old: still fresh
    expect(poller.current()).toMatchObject({ source: 'metrics', sampledAt: T0, stale: false, total: { cpu: 300, memory: 64 * MI, gpu: 0 } });
    clock.advance(1);
    expect(poller.current()).toMatchObject({ source: 'metrics', sampledAt: T0, stale: true, total: { cpu: 300, memory: 64 * MI, gpu: 0 } });
    expect(poller.stats()).toMatchObject({ source: 'metrics', stale: true, consecutiveFailures: 3, pollsFailed: 3, lastSuccessAt: T0 });
    expect(poller.stats().lastError).toContain('ECONNREFUSED');

    scheduler.tick(); // notices the staleness
    api.fail(network);
    await settle();
    scheduler.tick();
    api.fail(network);
    await settle();
    expect(log.above('info').map((l) => [l.level, l.msg])).toEqual([
      ['info', 'usage comes from metrics.k8s.io'],
      ['warn', 'metrics poll failed: serving the last sample, flagged stale once it is older than three intervals'],
      ['warn', 'usage sample is stale: no successful metrics poll for three intervals'],
    ]);

    scheduler.tick();
    api.answer(metrics(['iarnet-a', '400m', '64Mi']));
    await settle();
    expect(poller.current()).toMatchObject({ source: 'metrics', sampledAt: clock.now(), stale: false, total: { cpu: 400 } });
    expect(poller.stats()).toMatchObject({ consecutiveFailures: 0, stale: false });
    expect(log.above('info').at(-1)).toMatchObject({ level: 'info', msg: 'metrics poll recovered', obj: { source: 'metrics', failures: 5 } });
  });

  it('aborts a list that gets no answer for three intervals, so later ticks can poll again', async () => {
    const outcome = poller.poll();
    const { signal } = api.calls[0]!;
    scheduler.elapse(3 * INTERVAL - 1);
    expect(signal.aborted).toBe(false);
    expect(await poller.poll()).toBe('skipped');
    scheduler.elapse(1);
    await settle();
    expect(signal.aborted).toBe(true);
    expect(await outcome).toBe('failed');
    expect(poller.stats().lastError).toContain(`no answer within ${3 * INTERVAL} ms`);
    expect(poller.current().source).toBe('metrics'); // a timeout is a passing failure
    const next = poller.poll();
    expect(api.pending).toBe(1);
    api.answer(metrics());
    expect(await next).toBe('ok');
  });
});

describe('fallback to requests', () => {
  it('serves requests before the first sample, without logging a fallback', () => {
    cache.setPods([running('iarnet-a', 'a', { cpu: 500, memory: 2 * MI, gpu: 1 }), { ...running('iarnet-b', 'b'), phase: 'Pending' }]);
    clock.advance(42);
    expect(poller.current()).toEqual({
      total: { cpu: 500, memory: 2 * MI, gpu: 1 },
      perInstance: new Map([['a', { cpu: 500, memory: 2 * MI, gpu: 1 }]]),
      source: 'requests',
      sampledAt: T0 + 42,
      stale: false,
    });
    expect(log.above('info')).toEqual([]);
  });

  it.each([
    [503, 'the server is currently unable to handle the request'],
    [404, 'the server could not find the requested resource'],
    [403, 'pods.metrics.k8s.io is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods"'],
    [401, 'Unauthorized'],
  ])('HTTP %i: switches to requests at once, logs the start once and the end once, with the reason', async (code, message) => {
    cache.setPods([running('iarnet-a', 'a', { cpu: 500, memory: 2 * MI, gpu: 0 })]);
    await pollWith(metrics(['iarnet-a', '20m', '1Mi']));
    expect(poller.current().source).toBe('metrics');

    for (let i = 0; i < 4; i++) {
      clock.advance(INTERVAL);
      await pollWith(apiError(code, message));
      expect(poller.current()).toEqual({
        total: { cpu: 500, memory: 2 * MI, gpu: 0 },
        perInstance: new Map([['a', { cpu: 500, memory: 2 * MI, gpu: 0 }]]),
        source: 'requests',
        sampledAt: clock.now(),
        stale: false,
      });
    }
    const fallbackSince = T0 + INTERVAL;
    expect(poller.stats()).toMatchObject({ source: 'requests', fallbackSince, consecutiveFailures: 4, pollsFailed: 4, pollsTotal: 5 });
    expect(poller.stats().fallbackReason).toContain(`HTTP ${code}`);
    expect(poller.stats().fallbackReason).toContain(message);

    clock.advance(INTERVAL);
    await pollWith(metrics(['iarnet-a', '30m', '1Mi']));
    expect(poller.current()).toMatchObject({ source: 'metrics', total: { cpu: 30 }, stale: false });
    expect(poller.stats()).toMatchObject({ source: 'metrics', fallbackReason: undefined, consecutiveFailures: 0 });

    const lines = log.above('info');
    expect(lines.map((l) => [l.level, l.obj.source, l.msg])).toEqual([
      ['info', 'metrics', 'usage comes from metrics.k8s.io'],
      ['warn', 'requests', 'metrics.k8s.io unavailable: usage falls back to the requests of Running managed pods'],
      ['info', 'metrics', 'metrics.k8s.io answers again: usage comes from metrics, the requests fallback has ended'],
    ]);
    expect(lines[1]!.obj.reason).toContain(message);
    expect(lines[2]!.obj).toMatchObject({ fallbackMs: 4 * INTERVAL, fallbackReason: lines[1]!.obj.reason });
  });

  it('never lets a sample from before the fallback resurface', async () => {
    cache.setPods([running('iarnet-a', 'a')]);
    await pollWith(metrics(['iarnet-a', '900m', '1Mi']));
    await pollWith(apiError(503, 'the server is currently unable to handle the request'));
    // a passing failure now: there is no sample to keep, so requests go on
    await pollWith(apiError(500, 'etcdserver: request timed out'));
    expect(poller.current()).toMatchObject({ source: 'requests', total: { cpu: 100 } });
  });

  it('falls back when the very first list fails, whatever the reason', async () => {
    cache.setPods([running('iarnet-a', 'a')]);
    await pollWith(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(poller.current()).toMatchObject({ source: 'requests', total: { cpu: 100, memory: MI, gpu: 0 } });
    expect(log.above('info').map((l) => l.msg)).toEqual(['metrics.k8s.io unavailable: usage falls back to the requests of Running managed pods']);
  });

  it('flags the requests figures stale while the informer cache is not synced', async () => {
    await pollWith(apiError(404, 'the server could not find the requested resource'));
    cache.isSynced = false;
    expect(poller.current()).toMatchObject({ source: 'requests', stale: true });
    expect(poller.stats()).toMatchObject({ source: 'requests', stale: true });
    cache.isSynced = true;
    expect(poller.current().stale).toBe(false);
  });

  it('treats a malformed answer as a passing failure', async () => {
    await pollWith(metrics());
    expect(await pollWith({ items: 'nope' } as unknown as PodMetricsList)).toBe('failed');
    expect(poller.current().source).toBe('metrics');
    expect(poller.stats().lastError).toContain('items are not an array');
  });
});

describe('metricsApiMissing', () => {
  it('sorts failures into "no metrics API" and "wait it out"', () => {
    expect([401, 403, 404, 503].map((c) => metricsApiMissing(apiError(c, 'x')))).toEqual([true, true, true, true]);
    expect([400, 409, 429, 500, 502, 504].map((c) => metricsApiMissing(apiError(c, 'x')))).toEqual([false, false, false, false, false, false]);
    expect(metricsApiMissing(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(metricsApiMissing(new DOMException('timeout', 'TimeoutError'))).toBe(false);
  });

  it('describes a failure in one line for logs and stats', () => {
    expect(describeFailure(apiError(503, 'the server is currently unable to handle the request'))).toBe(
      'the API server failed to list pods.metrics.k8s.io (HTTP 503): the server is currently unable to handle the request',
    );
    expect(describeFailure(apiError(404, 'the server could not find the requested resource'))).toBe(
      'HTTP 404: the server could not find the requested resource',
    );
    expect(describeFailure(apiError(403, 'forbidden'))).toBe('HTTP 403: not allowed to list pods.metrics.k8s.io: forbidden');
    expect(describeFailure(new DOMException('no answer within 3000 ms', 'TimeoutError'))).toBe('list pods.metrics.k8s.io: no answer within 3000 ms');
  });
});

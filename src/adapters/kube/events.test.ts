/**
 * The writer's promise to its callers, with a real client-node client whose
 * API server is not there (a closed port): recording never throws or waits,
 * failures are logged once per run, and what cannot be written is counted.
 * What it writes when the API server is there is tested against the test
 * cluster (test/integration/events.test.ts).
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { ApiException, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { EventInput } from '../../core/events.js';
import type { Logger } from '../../core/ports.js';
import { KubeEventWriter, classify, cutNote, eventName, seriesKey, workloadReference } from './events.js';

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function unreachableApi(port: number): EventsV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'gone', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'gone', user: 'u' }],
    currentContext: 'c',
  });
  return kc.makeApiClient(EventsV1Api);
}

function recordingLog(): Logger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, debug() {}, info: (_o, m) => void infos.push(m ?? ''), warn: (_o, m) => void warnings.push(m ?? ''), error() {} };
}

const deployed = (name: string): EventInput => ({ subject: { kind: 'Pod', name, uid: 'u' }, reason: 'Deployed', action: 'Deploy', note: `${name} deployed` });

describe('KubeEventWriter with the API server unreachable', () => {
  it('records without throwing or waiting, logs the failure once, and counts every occurrence it gives up', async () => {
    const log = recordingLog();
    const counts = { recorded: 0, writeErrors: 0, dropped: new Map<string, number>() };
    const writer = new KubeEventWriter({
      api: unreachableApi(await closedPort()),
      namespace: 'ns',
      daemonObject: async () => ({ kind: 'Lease', name: 'l', namespace: 'ns', uid: 'x' }),
      reportingInstance: 'test',
      timing: { writeIntervalMs: 10, finishAfterMs: 60_000, maxEntries: 16, maxAttempts: 2, retryBaseMs: 10 },
      rate: { burst: 100, perSecond: 100 },
      log,
      observer: {
        eventRecorded: () => void counts.recorded++,
        eventWritten: (_op, ok) => void (ok || counts.writeErrors++),
        eventsDropped: (cause, n) => void counts.dropped.set(cause, (counts.dropped.get(cause) ?? 0) + n),
      },
    });
    // 10 distinct events and 990 repeats of one: all returned synchronously.
    for (let i = 0; i < 10; i++) expect(writer.record(deployed(`p${i}`))).toBeUndefined();
    for (let i = 0; i < 990; i++) writer.record(deployed('p0'));
    // 6 more distinct ones than the book holds: dropped at once, counted.
    for (let i = 10; i < 16 + 6; i++) writer.record(deployed(`p${i}`));
    expect(counts.recorded).toBe(1000 + 12);
    expect(counts.dropped.get('queue_full')).toBe(6);
    expect(writer.pending()).toBe(1000 + 6);

    const deadline = Date.now() + 20_000;
    while (writer.pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(writer.pending()).toBe(0);
    expect(counts.dropped.get('write_failed')).toBe(1006);
    expect(counts.writeErrors).toBeGreaterThanOrEqual(32); // two attempts for each of the 16 series
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/^cannot write Kubernetes Events/);
    await writer.stop(100);
    writer.record(deployed('after-stop')); // ignored, and still no throw
    expect(writer.pending()).toBe(0);
  });
});

describe('events helpers', () => {
  it('keys a series by object, related object, reason, action and series key (the note by default)', () => {
    const a = deployed('a');
    expect(seriesKey(a)).toBe(seriesKey({ ...a }));
    expect(seriesKey(a)).not.toBe(seriesKey({ ...a, note: 'other' }));
    expect(seriesKey({ ...a, seriesKey: 'k', note: 'x' })).toBe(seriesKey({ ...a, seriesKey: 'k', note: 'y' }));
    expect(seriesKey(a)).not.toBe(seriesKey({ ...a, subject: { kind: 'Pod', name: 'a', uid: 'other' } }));
    expect(seriesKey({ ...a, subject: 'daemon' })).not.toBe(seriesKey(a));
  });

  it('retries what the API server may accept later, gives up on refusals, recreates an expired Event', () => {
    const status = (code: number): ApiException<string> => new ApiException(code, `HTTP ${code}`, '{}', {});
    expect(classify('patch', status(404))).toBe('gone');
    expect(classify('create', status(404))).toBe('fatal');
    expect(classify('create', status(403))).toBe('fatal');
    expect(classify('create', status(422))).toBe('fatal');
    expect(classify('create', status(429))).toBe('retry');
    expect(classify('patch', status(503))).toBe('retry');
    expect(classify('create', new Error('connect ECONNREFUSED'))).toBe('retry');
  });

  it('names an Event after its object and the time, as a DNS subdomain of at most 253 characters', () => {
    const name = eventName('web', Date.UTC(2026, 0, 1));
    expect(name).toMatch(/^web\.[0-9a-f]+$/);
    expect(eventName('web', 1)).not.toBe(eventName('web', 1));
    // A longest pod name, cut where a "-" would end the shortened name.
    const long = eventName(`${'a-'.repeat(126)}a`, Date.UTC(2026, 0, 1));
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  });

  it('cuts a note to 1024 bytes, counting multi-byte characters', () => {
    expect(cutNote('short')).toBe('short');
    const cut = cutNote('é'.repeat(1000));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1024);
    expect(cut.endsWith('...')).toBe(true);
  });
});

describe('workloadReference', () => {
  it('names each workload kind in its own API group, so the Event points at an object that exists', () => {
    expect(workloadReference({ kind: 'Pod', name: 'a', uid: 'u' }, 'ns')).toEqual({ apiVersion: 'v1', kind: 'Pod', name: 'a', namespace: 'ns', uid: 'u' });
    expect(workloadReference({ kind: 'Job', name: 'b' }, 'ns')).toEqual({ apiVersion: 'batch/v1', kind: 'Job', name: 'b', namespace: 'ns' });
    expect(workloadReference({ kind: 'Deployment', name: 'c', uid: 'd' }, 'ns')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'c',
      namespace: 'ns',
      uid: 'd',
    });
  });
});

import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { unavailable } from '../../core/errors.js';
import { PollSummary } from './poll-summary.js';
import { RpcKit } from './rpc.js';

function recorder(): {
  lines: Array<{ level: string; fields: Record<string, unknown>; msg: string | undefined }>;
  log: Record<'debug' | 'info' | 'warn' | 'error', (f: object, m?: string) => void>;
} {
  const lines: Array<{ level: string; fields: Record<string, unknown>; msg: string | undefined }> = [];
  const at = (level: string) => (fields: object, msg?: string) => void lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

/** Calls a wrapped unary handler as grpc-js would and waits until it has been logged. */
async function invoke(handler: grpc.handleUnaryCall<unknown, unknown>, request: object): Promise<void> {
  await new Promise<void>((resolve) => handler({ request } as grpc.ServerUnaryCall<unknown, unknown>, () => resolve()));
  await new Promise((r) => setImmediate(r));
}

describe('polls: per call at debug, summarised at info', () => {
  it('logs a successful poll at debug and counts it; failures and other methods stay per call', async () => {
    const rec = recorder();
    const polls = new PollSummary(rec.log);
    const rpc = new RpcKit('provider.Service', { log: rec.log, polls });
    await invoke(
      rpc.unary('HealthCheck', () => ({})),
      { providerId: 'cp' },
    );
    await invoke(
      rpc.unary('HealthCheck', () => ({})),
      { providerId: 'cp' },
    );
    await invoke(
      rpc.unary('GetCapacity', () => {
        throw unavailable('not synced');
      }),
      { providerId: 'cp' },
    );
    await invoke(
      rpc.unary('Connect', () => ({})),
      { providerId: 'cp' },
    );
    expect(rec.lines.map((l) => [l.level, l.fields.method, l.fields.code])).toEqual([
      ['debug', 'HealthCheck', 'OK'],
      ['debug', 'HealthCheck', 'OK'],
      ['warn', 'GetCapacity', 'UNAVAILABLE'],
      ['info', 'Connect', 'OK'],
    ]);
    polls.flush();
    expect(rec.lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'rpc summary',
      fields: { intervalSeconds: 60, calls: { 'provider.Service/HealthCheck': { calls: 2 } } },
    });
    expect(Object.keys(rec.lines.at(-1)?.fields.calls as object)).toEqual(['provider.Service/HealthCheck']);
    polls.flush(); // nothing since: no line
    expect(rec.lines.filter((l) => l.msg === 'rpc summary')).toHaveLength(1);
  });

  it('without a summary every successful call is logged at info, as before', async () => {
    const rec = recorder();
    const rpc = new RpcKit('provider.Service', { log: rec.log });
    await invoke(
      rpc.unary('HealthCheck', () => ({})),
      { providerId: 'cp' },
    );
    expect(rec.lines.map((l) => l.level)).toEqual(['info']);
  });

  it('logs what is pending when stopped', () => {
    const rec = recorder();
    const polls = new PollSummary(rec.log, 1000);
    polls.start();
    polls.count('provider.Service', 'GetRealTimeUsage', 1.5);
    polls.count('provider.Service', 'GetRealTimeUsage', 0.5);
    polls.stop();
    expect(rec.lines).toEqual([
      { level: 'info', msg: 'rpc summary', fields: { intervalSeconds: 1, calls: { 'provider.Service/GetRealTimeUsage': { calls: 2, maxMs: 1.5 } } } },
    ]);
  });
});

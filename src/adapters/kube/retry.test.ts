import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { DomainError } from '../../core/errors.js';
import { retryDelayMs, withRetry, DEFAULT_RETRY } from './retry.js';

const call = { verb: 'create', resource: 'pods', namespace: 'work' };
const api = (code: number, body: unknown, headers: Record<string, string> = {}) => new ApiException(code, 'x', body, headers);

describe('withRetry', () => {
  const policy = (delays: number[]) => ({
    attempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 250,
    maxRetryAfterMs: 10_000,
    sleep: async (ms: number) => void delays.push(ms),
  });

  it('retries with capped backoff, then reports UNAVAILABLE', async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = await withRetry(
      call,
      async () => {
        calls++;
        throw api(503, 'down');
      },
      policy(delays),
    ).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    delays.forEach((d, i) => {
      const cap = Math.min(250, 100 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    });
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe('UNAVAILABLE');
  });

  it('answers at once on a final error and returns what a later try gives', async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        call,
        async () => {
          calls++;
          throw api(409, 'exists');
        },
        policy(delays),
      ),
    ).rejects.toMatchObject({ kind: 'ALREADY_EXISTS' });
    expect(calls).toBe(1);
    let n = 0;
    await expect(withRetry(call, async () => (++n < 3 ? Promise.reject(api(500, 'x')) : 'done'), policy(delays))).resolves.toBe('done');
  });

  it('waits at least what Retry-After asks, spread over up to a quarter more', async () => {
    const delays: number[] = [];
    let calls = 0;
    const tooMany = (headers: Record<string, string>, body: unknown = { code: 429 }) => api(429, body, headers);
    await expect(
      withRetry(
        call,
        async () => {
          calls++;
          if (calls === 1) throw tooMany({ 'retry-after': '3' });
          if (calls === 2) throw tooMany({}, { code: 429, details: { retryAfterSeconds: 2 } });
          return 'ok';
        },
        policy(delays),
      ),
    ).resolves.toBe('ok');
    expect(delays[0]).toBeGreaterThanOrEqual(3000);
    expect(delays[0]).toBeLessThanOrEqual(3750);
    expect(delays[1]).toBeGreaterThanOrEqual(2000);
    expect(delays[1]).toBeLessThanOrEqual(2500);
    // Jitter: the same Retry-After gives different waits.
    const waits = new Set(Array.from({ length: 20 }, () => retryDelayMs(DEFAULT_RETRY, 1, 1000)));
    expect(waits.size).toBeGreaterThan(1);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(1000);
    // A Retry-After below the backoff leaves the backoff.
    expect(retryDelayMs(DEFAULT_RETRY, 3, 0, () => 0)).toBe(400);
  });

  it('gives up at once, saying so, when the API server asks for more than it will wait', async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = await withRetry(
      call,
      async () => {
        calls++;
        throw api(429, { code: 429, message: 'too many requests' }, { 'retry-after': '60' });
      },
      policy(delays),
    ).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
    expect((err as DomainError).kind).toBe('UNAVAILABLE');
    expect((err as DomainError).message).toMatch(/overloaded \(429\).*retry after 60 s/);
  });

  it('stops waiting and trying when the signal aborts', async () => {
    const abort = new AbortController();
    let calls = 0;
    const waited: number[] = [];
    // A sleep that only ends when the signal it was given aborts: withRetry must hand it over.
    const untilAborted = (ms: number, signal?: AbortSignal): Promise<void> =>
      new Promise((resolve) => {
        waited.push(ms);
        signal?.addEventListener('abort', () => resolve(), { once: true });
        abort.abort();
      });
    const err = await withRetry(
      call,
      async () => {
        calls++;
        throw api(429, {}, { 'retry-after': '20' });
      },
      { ...DEFAULT_RETRY, sleep: untilAborted },
      abort.signal,
    ).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(waited[0]).toBeGreaterThanOrEqual(20_000);
    expect((err as DomainError).kind).toBe('UNAVAILABLE');
  });
});

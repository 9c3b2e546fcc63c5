import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { DomainError } from '../../core/errors.js';
import { withRetry } from './retry.js';

const call = { verb: 'create', resource: 'pods', namespace: 'work' };
const api = (code: number, body: unknown) => new ApiException(code, 'x', body, {});

describe('withRetry', () => {
  const policy = (delays: number[]) => ({ attempts: 4, baseDelayMs: 100, maxDelayMs: 250, sleep: async (ms: number) => void delays.push(ms) });

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
});

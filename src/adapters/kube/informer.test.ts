/** When a failed watch lists again: its backoff, held back by a throttled answer's Retry-After. */
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { restartDelayMs } from './informer.js';

const backoff = { baseMs: 250, maxMs: 10_000 };
const throttled = (retryAfter: string): ApiException<string> => new ApiException(429, 'Too Many Requests', '', { 'retry-after': retryAfter });

describe('restartDelayMs', () => {
  it('doubles from the base with the failures in a row, up to the maximum', () => {
    expect([1, 2, 3, 6, 7, 40].map((n) => restartDelayMs(n, backoff, new Error('connection reset')))).toEqual([250, 500, 1000, 8000, 10_000, 10_000]);
  });

  it('waits at least what a throttled list asked for, and never less than its backoff', () => {
    expect(restartDelayMs(1, backoff, throttled('3'))).toBe(3000);
    expect(restartDelayMs(7, backoff, throttled('1'))).toBe(10_000);
  });

  it('caps a Retry-After of minutes at one minute', () => {
    expect(restartDelayMs(1, backoff, throttled('600'))).toBe(60_000);
  });
});

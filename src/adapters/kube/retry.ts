/**
 * Retries of Kubernetes API calls: 429, 5xx and transport failures are tried
 * again with capped, jittered exponential backoff, never sooner than the API
 * server's Retry-After; anything else, or the last failure, is mapped to a
 * domain error.
 */
import { isRetryable, mapApiError, retryAfterMs, type ApiCall } from '../../shared/kube-api-errors.js';

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * A Retry-After longer than this is not waited for: the failure is the
   * answer (the caller, or the control plane, retries later).
   */
  readonly maxRetryAfterMs: number;
  /** Injectable so tests need no real timers; resolves early when `signal` aborts. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2000, maxRetryAfterMs: 30_000, sleep };

/**
 * How long to wait before try `attempt + 1`. The backoff is jittered over its
 * upper half; a Retry-After is a floor, spread over up to a quarter more, so
 * the calls the server turned away together do not all come back together.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfter: number | undefined, random: () => number = Math.random): number {
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = backoff / 2 + random() * (backoff / 2);
  if (retryAfter === undefined) return jittered;
  return Math.max(jittered, retryAfter + random() * (retryAfter / 4));
}

/**
 * Runs an API call, retrying 429/5xx/transport failures with capped
 * exponential backoff, then maps the error. Once `signal` aborts there is no
 * further try, and a wait in progress ends at once.
 */
export async function withRetry<T>(call: ApiCall, fn: () => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.attempts || !isRetryable(err) || signal?.aborted) throw mapApiError(err, call);
      const asked = retryAfterMs(err);
      if (asked !== undefined && asked > policy.maxRetryAfterMs) throw mapApiError(err, call);
      await policy.sleep(retryDelayMs(policy, attempt, asked), signal);
      if (signal?.aborted) throw mapApiError(err, call);
    }
  }
}

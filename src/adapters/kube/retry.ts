/**
 * Retries of Kubernetes API calls: 429, 5xx and transport failures are tried
 * again with capped, jittered exponential backoff; anything else, or the
 * last failure, is mapped to a domain error.
 */
import { isRetryable, mapApiError, type ApiCall } from '../../shared/kube-api-errors.js';

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Injectable so tests need no real timers. */
  readonly sleep: (ms: number) => Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2000, sleep };

/**
 * Runs an API call, retrying 429/5xx/transport failures with capped
 * exponential backoff, then maps the error. Once `signal` aborts there is no
 * further try.
 */
export async function withRetry<T>(call: ApiCall, fn: () => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.attempts || !isRetryable(err) || signal?.aborted) throw mapApiError(err, call);
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await policy.sleep(backoff / 2 + Math.random() * (backoff / 2));
    }
  }
}

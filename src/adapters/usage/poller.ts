/**
 * Real-time usage from metrics.k8s.io, polled on a timer so that answering
 * GetRealTimeUsage never touches the API server: current() only reads the
 * last sample and the informer cache.
 *
 * What current() serves:
 * - source "metrics": CPU and memory of the last successful PodMetrics list,
 *   sampledAt = when that list answered. GPUs are not metered by
 *   metrics-server; they are the GPUs requested by Running managed pods in
 *   the informer cache, as of now. When no list has succeeded for more than
 *   three intervals (API server unreachable, metrics-server erroring), the
 *   same figures keep their old sampledAt and are flagged stale.
 * - source "requests" (fallback): the requests of Running managed pods from
 *   the informer cache, sampledAt = now, stale while the cache's watches are
 *   not synced. Served while the metrics API is missing or refusing us
 *   (HTTP 401, 403, 404, 503: no APIService, metrics-server down, no RBAC),
 *   and before the first list has succeeded.
 */
import type { ObservedWorkloads } from '../../core/instances.js';
import type { Clock, Logger, UsageSnapshot, UsageSource, UsageSourceKind, WorkloadView } from '../../core/ports.js';
import { ZERO, add, type Resources } from '../../core/resources.js';
import { runningRequests } from '../../core/usage.js';
import { httpStatusOf, mapApiError } from '../../shared/kube-api-errors.js';
import { instanceResolver, usageByInstance, type MeteredUsage, type PodMetricsList } from './pod-metrics.js';

/** Timers, injectable so the poller can be driven step by step. */
export interface Scheduler {
  /** Calls fn every ms until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Resolves after ms. */
  after(ms: number): Promise<void>;
}

export const realScheduler: Scheduler = {
  every(ms, fn): () => void {
    const handle = setInterval(fn, ms);
    handle.unref();
    return () => clearInterval(handle);
  },
  after(ms): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  },
};

export interface UsagePollerOptions {
  /** Lists PodMetrics of our namespace with the managed selector; must honour the signal. */
  readonly list: (signal: AbortSignal) => Promise<unknown>;
  readonly view: WorkloadView;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly scheduler?: Scheduler;
}

/** For operators (Prometheus, health): what the poller is doing and how it has fared. */
export interface UsagePollerStats {
  /** Where GetRealTimeUsage's figures come from right now. */
  readonly source: UsageSourceKind;
  /** What GetRealTimeUsage reports as `stale` right now. */
  readonly stale: boolean;
  readonly intervalMs: number;
  /** Figures older than this are stale (three intervals). */
  readonly staleAfterMs: number;
  /** ms since epoch of the last successful list, if any. */
  readonly lastSuccessAt: number | undefined;
  readonly lastFailureAt: number | undefined;
  readonly lastError: string | undefined;
  /** Set while serving the requests fallback: why. */
  readonly fallbackReason: string | undefined;
  readonly fallbackSince: number | undefined;
  readonly consecutiveFailures: number;
  /** Lists started (each is one API request); skipped ticks are not included. */
  readonly pollsTotal: number;
  readonly pollsFailed: number;
  /** Ticks that found the previous list still running and did nothing. */
  readonly pollsSkipped: number;
  readonly lastPollDurationMs: number | undefined;
}

export type PollOutcome = 'ok' | 'failed' | 'skipped' | 'stopped';

/** HTTP statuses that mean the metrics API is not there for us, as opposed to a passing failure. */
const METRICS_API_MISSING: ReadonlySet<number> = new Set([401, 403, 404, 503]);

function httpStatus(err: unknown): number | undefined {
  const code = httpStatusOf(err);
  // Aborts and timeouts are DOMExceptions, whose numeric `code` (20, 23) is no HTTP status.
  return code !== undefined && code >= 100 && code < 600 ? code : undefined;
}

/** True when a failure means the metrics API is not there for us; false when it is worth waiting out. */
export function metricsApiMissing(err: unknown): boolean {
  const code = httpStatus(err);
  return code !== undefined && METRICS_API_MISSING.has(code);
}

/** One line for logs and stats: the HTTP status and the API server's message, or the transport error. */
export function describeFailure(err: unknown): string {
  const code = httpStatus(err);
  if (code === undefined) return `list pods.metrics.k8s.io: ${err instanceof Error ? err.message : String(err)}`;
  const { message } = mapApiError(err, { verb: 'list', resource: 'pods.metrics.k8s.io' });
  return message.includes(`HTTP ${code}`) ? message : `HTTP ${code}: ${message}`;
}

interface Sample {
  readonly perInstance: ReadonlyMap<string, MeteredUsage>;
  readonly at: number;
}

const STALE_AFTER_INTERVALS = 3;

export class UsagePoller implements UsageSource {
  private readonly scheduler: Scheduler;
  private readonly staleAfterMs: number;
  private sample: Sample | undefined;
  private fallback: { reason: string; since: number } | undefined;
  private inFlight = false;
  private stopped = false;
  private staleLogged = false;
  private cancelTimer: (() => void) | undefined;
  /** Aborts the list in flight: on stop, or when it has had no answer for three intervals. */
  private abortInFlight: AbortController | undefined;
  private counts = { total: 0, failed: 0, skipped: 0, consecutiveFailures: 0 };
  private last: { successAt?: number; failureAt?: number; error?: string; durationMs?: number } = {};
  /** current() is called at RPC rate: the composed figures are rebuilt only when an input changed. */
  private memo: { sample: Sample | undefined; observed: ObservedWorkloads; figures: Figures } | undefined;

  constructor(private readonly options: UsagePollerOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.staleAfterMs = STALE_AFTER_INTERVALS * options.intervalMs;
  }

  /**
   * Polls at once and then every interval. Resolves when the first poll has
   * settled, or after at most one interval (capped at 5 s) so a slow metrics
   * API cannot hold up start-up; until then usage comes from requests.
   */
  async start(): Promise<void> {
    this.cancelTimer = this.scheduler.every(this.options.intervalMs, () => this.tick());
    await Promise.race([this.poll(), this.scheduler.after(Math.min(this.options.intervalMs, 5000))]);
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.abortInFlight?.abort();
  }

  current(): UsageSnapshot {
    const now = this.options.clock.now();
    const observed = this.options.view.snapshot();
    const figures = this.figures(observed);
    const sample = this.servedSample();
    if (!sample) {
      return { ...figures, source: 'requests', sampledAt: now, stale: !this.options.view.synced() };
    }
    const at = sample.at;
    return { ...figures, source: 'metrics', sampledAt: at, stale: now - at > this.staleAfterMs };
  }

  stats(): UsagePollerStats {
    const sample = this.servedSample();
    const now = this.options.clock.now();
    return {
      source: sample ? 'metrics' : 'requests',
      stale: sample ? now - sample.at > this.staleAfterMs : !this.options.view.synced(),
      intervalMs: this.options.intervalMs,
      staleAfterMs: this.staleAfterMs,
      lastSuccessAt: this.last.successAt,
      lastFailureAt: this.last.failureAt,
      lastError: this.last.error,
      fallbackReason: this.fallback?.reason,
      fallbackSince: this.fallback?.since,
      consecutiveFailures: this.counts.consecutiveFailures,
      pollsTotal: this.counts.total,
      pollsFailed: this.counts.failed,
      pollsSkipped: this.counts.skipped,
      lastPollDurationMs: this.last.durationMs,
    };
  }

  /** One list of PodMetrics; a tick that finds the previous one still running is skipped, not queued. */
  async poll(): Promise<PollOutcome> {
    if (this.stopped) return 'stopped';
    if (this.inFlight) {
      this.counts.skipped++;
      this.options.log.debug({ source: this.serving(), skipped: this.counts.skipped }, 'previous metrics poll still running; tick skipped');
      return 'skipped';
    }
    this.inFlight = true;
    this.counts.total++;
    const started = this.options.clock.now();
    try {
      // A list that hangs would otherwise block every later poll; by the time it is aborted the figures are stale anyway.
      const abort = new AbortController();
      this.abortInFlight = abort;
      void this.scheduler.after(this.staleAfterMs).then(() => abort.abort(new DOMException(`no answer within ${this.staleAfterMs} ms`, 'TimeoutError')));
      const answer = await this.options.list(abort.signal);
      if (this.stopped) return 'stopped';
      const perInstance = usageByInstance(asPodMetricsList(answer), instanceResolver(this.options.view.snapshot().pods));
      this.succeeded(perInstance, answer);
      return 'ok';
    } catch (err) {
      if (this.stopped) return 'stopped';
      this.failed(err);
      return 'failed';
    } finally {
      this.inFlight = false;
      this.abortInFlight = undefined;
      this.last.durationMs = this.options.clock.now() - started;
    }
  }

  private tick(): void {
    this.noteStaleness();
    void this.poll();
  }

  private serving(): UsageSourceKind {
    return this.servedSample() ? 'metrics' : 'requests';
  }

  /** The metrics sample the figures come from, or undefined while they come from requests. */
  private servedSample(): Sample | undefined {
    return this.fallback ? undefined : this.sample;
  }

  private succeeded(perInstance: ReadonlyMap<string, MeteredUsage>, answer: unknown): void {
    const now = this.options.clock.now();
    const { log } = this.options;
    const pods = (answer as PodMetricsList).items?.length ?? 0;
    if (this.fallback) {
      log.info(
        { source: 'metrics', fallbackReason: this.fallback.reason, fallbackMs: now - this.fallback.since, pods },
        'metrics.k8s.io answers again: usage comes from metrics, the requests fallback has ended',
      );
      this.fallback = undefined;
    } else if (!this.sample) {
      log.info({ source: 'metrics', pods, intervalMs: this.options.intervalMs }, 'usage comes from metrics.k8s.io');
    } else if (this.counts.consecutiveFailures > 0) {
      log.info({ source: 'metrics', failures: this.counts.consecutiveFailures, pods }, 'metrics poll recovered');
    }
    this.sample = { perInstance, at: now };
    this.counts.consecutiveFailures = 0;
    this.staleLogged = false;
    this.last.successAt = now;
  }

  private failed(err: unknown): void {
    const now = this.options.clock.now();
    const reason = describeFailure(err);
    this.counts.failed++;
    this.counts.consecutiveFailures++;
    this.last.failureAt = now;
    this.last.error = reason;
    const { log } = this.options;
    if (metricsApiMissing(err) || !this.sample) {
      if (this.fallback) {
        log.debug({ source: 'requests', reason }, 'metrics.k8s.io still unavailable');
        return;
      }
      this.fallback = { reason, since: now };
      // The old sample describes pods that may be long gone once the API comes back; it must not resurface.
      this.sample = undefined;
      log.warn({ source: 'requests', reason }, 'metrics.k8s.io unavailable: usage falls back to the requests of Running managed pods');
      return;
    }
    if (this.counts.consecutiveFailures === 1) {
      log.warn(
        { source: 'metrics', reason, staleAfterMs: this.staleAfterMs },
        'metrics poll failed: serving the last sample, flagged stale once it is older than three intervals',
      );
    }
  }

  private noteStaleness(): void {
    const sample = this.servedSample();
    if (this.staleLogged || !sample) return;
    const age = this.options.clock.now() - sample.at;
    if (age <= this.staleAfterMs) return;
    this.staleLogged = true;
    this.options.log.warn(
      { source: 'metrics', ageMs: age, lastError: this.last.error },
      'usage sample is stale: no successful metrics poll for three intervals',
    );
  }

  private figures(observed: ObservedWorkloads): Figures {
    const sample = this.servedSample();
    const memo = this.memo;
    if (memo && memo.sample === sample && memo.observed === observed) return memo.figures;
    const figures = sample ? withGpus(sample.perInstance, observed) : runningRequests(observed);
    this.memo = { sample, observed, figures };
    return figures;
  }
}

interface Figures {
  readonly total: Resources;
  readonly perInstance: ReadonlyMap<string, Resources>;
}

/** Metered CPU and memory per instance, plus the GPUs its Running pods requested (metrics-server cannot see GPUs). */
function withGpus(metered: ReadonlyMap<string, MeteredUsage>, observed: ObservedWorkloads): Figures {
  const requested = runningRequests(observed).perInstance;
  const perInstance = new Map<string, Resources>();
  for (const [id, u] of metered) perInstance.set(id, { cpu: u.cpu, memory: u.memory, gpu: requested.get(id)?.gpu ?? 0 });
  for (const [id, r] of requested) {
    if (r.gpu > 0 && !perInstance.has(id)) perInstance.set(id, { cpu: 0, memory: 0, gpu: r.gpu });
  }
  let total = ZERO;
  for (const r of perInstance.values()) total = add(total, r);
  return { total, perInstance };
}

function asPodMetricsList(answer: unknown): PodMetricsList {
  const items = (answer as { items?: unknown } | null)?.items;
  if (items !== undefined && items !== null && !Array.isArray(items)) throw new Error('metrics.k8s.io answered with a list whose items are not an array');
  if (answer === null || typeof answer !== 'object') throw new Error('metrics.k8s.io answered with something other than a PodMetricsList');
  return answer as PodMetricsList;
}

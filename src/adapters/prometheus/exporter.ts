/**
 * The daemon's Prometheus metrics. Each daemon has its own registry rather
 * than prom-client's global one, so two daemons in one process never share
 * or double-register series.
 *
 * Counters and histograms are fed by the gRPC handlers (RpcObserver) and the
 * instrumented Kubernetes clients (KubeApiObserver). Everything that is a
 * state rather than an event (ledger, informers, usage age) is read at
 * scrape time through collect callbacks, so it can never drift from the
 * daemon's own books.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CapacityReport } from '../../core/capacity.js';
import type { StorageReport } from '../../core/storage.js';
import { ErrorKind } from '../../core/errors.js';
import { RESOURCE_KEYS } from '../../core/resources.js';
import type { InformerStats, KubeApiObserver, RpcObserver, WatchEventObserver } from '../../shared/observability.js';
import { CallSeries } from './call-series.js';

export const PREFIX = 'k8s_provider_';

/** What the gauges read at scrape time. */
export interface ExporterSources {
  capacity(): CapacityReport;
  /** The storage books (resource.storage); absent: no storage series. */
  storage?(): StorageReport;
  session(): SessionStats;
  informerStats(): Record<string, InformerStats>;
  ready(): boolean;
  usage(): UsagePollStats;
  now(): number;
}

/** The control-plane session as the metrics see it. */
export interface SessionStats {
  /** The connected control plane; undefined while none is connected. */
  readonly providerId: string | undefined;
  /** ms since epoch of the connected control plane's last HealthCheck; undefined while none is connected. */
  readonly lastHealthCheckAt: number | undefined;
  /** Sessions ended by Disconnect, and by timeout, since start. */
  readonly disconnects: number;
  readonly expirations: number;
}

/** What the metrics poller reports about itself (a structural subset of UsagePollerStats). */
export interface UsagePollStats {
  /** Where GetRealTimeUsage's figures come from right now: metrics or requests. */
  readonly source: string;
  readonly stale: boolean;
  /** ms since epoch of the last successful poll, if any. */
  readonly lastSuccessAt: number | undefined;
  readonly pollsTotal: number;
  readonly pollsFailed: number;
  readonly pollsSkipped: number;
}

/** What a finished Deploy amounts to, as an operator would count it. */
export type DeployOutcome = 'created' | 'existing' | 'rejected' | 'invalid' | 'conflict' | 'unavailable' | 'denied' | 'error';

/** What each kind of in-band Deploy failure counts as; exhaustive, so a new kind cannot go uncounted. */
const DEPLOY_OUTCOMES: Readonly<Record<ErrorKind, DeployOutcome>> = {
  [ErrorKind.ResourceExhausted]: 'rejected',
  [ErrorKind.InvalidArgument]: 'invalid',
  [ErrorKind.AlreadyExists]: 'conflict',
  [ErrorKind.Unavailable]: 'unavailable',
  [ErrorKind.PermissionDenied]: 'denied',
  [ErrorKind.FailedPrecondition]: 'denied',
  [ErrorKind.NotFound]: 'error',
  [ErrorKind.Internal]: 'error',
};

export function deployOutcomeOf(kind: ErrorKind): DeployOutcome {
  return DEPLOY_OUTCOMES[kind] ?? 'error';
}

// Sub-millisecond answers from the books up to Deploys that wait on a slow API server.
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const API_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A watch event is applied in microseconds when all is well; the top buckets show an event loop that falls behind. */
const WATCH_EVENT_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class PrometheusExporter implements RpcObserver, KubeApiObserver, WatchEventObserver {
  readonly registry = new Registry();
  /** Counted on every call, so kept as plain numbers (call-series.ts); bounded by the methods and codes that exist. */
  private readonly rpcs: CallSeries;
  private readonly deploys: Counter<'outcome'>;
  private readonly apiRequests: Counter<'operation'>;
  private readonly apiErrors: Counter<'operation' | 'code'>;
  private readonly apiSeconds: Histogram<'operation'>;
  private readonly watchEventSeconds: Histogram<'informer'>;
  private readonly watchEventSeries = new Map<string, { observe(v: number): void }>();
  private sources: ExporterSources | undefined;
  private sourcesSince = 0;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client's gauges named *_total break the convention that only counters end in _total
    // (promtool check metrics flags them); nodejs_active_{handles,requests,resources} by type remain.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    // The names of go-grpc-prometheus and its ports, so existing gRPC dashboards work unchanged.
    this.rpcs = new CallSeries({
      counterName: 'grpc_server_handled_total',
      counterHelp: 'RPCs completed on the server, by method and status code (in-band Connect/Deploy errors count with their code).',
      histogramName: 'grpc_server_handling_seconds',
      histogramHelp: 'Time from receiving an RPC to answering it, by method and status code.',
      buckets: RPC_BUCKETS,
    });
    this.rpcs.register(this.registry);
    this.deploys = new Counter({
      name: `${PREFIX}deploys_total`,
      help: 'Deploy calls by outcome: created, existing (idempotent retry), rejected (no room), invalid, conflict, unavailable, denied, error.',
      labelNames: ['outcome'],
      registers,
    });
    this.apiRequests = new Counter({
      name: `${PREFIX}kube_api_requests_total`,
      help: 'Kubernetes API requests by client operation (each retry counts); watch streams are not included.',
      labelNames: ['operation'],
      registers,
    });
    this.apiErrors = new Counter({
      name: `${PREFIX}kube_api_errors_total`,
      help: 'Failed Kubernetes API requests by operation and HTTP status ("network" when no answer came).',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.apiSeconds = new Histogram({
      name: `${PREFIX}kube_api_request_duration_seconds`,
      help: 'Kubernetes API request latency by operation.',
      labelNames: ['operation'],
      buckets: API_BUCKETS,
      registers,
    });
    this.watchEventSeconds = new Histogram({
      name: `${PREFIX}watch_event_apply_seconds`,
      help: 'Time from a watch event reaching the daemon to its books, instances and caches reflecting it, per informer.',
      labelNames: ['informer'],
      buckets: WATCH_EVENT_BUCKETS,
      registers,
    });
    this.stateGauges(registers);
  }

  watchEventApplied(informer: string, seconds: number): void {
    let series = this.watchEventSeries.get(informer);
    if (!series) {
      series = this.watchEventSeconds.labels({ informer });
      this.watchEventSeries.set(informer, series);
    }
    series.observe(seconds);
  }

  /** Hands over the daemon's state once it exists; until then the state gauges report nothing. */
  collectFrom(sources: ExporterSources): void {
    this.sources = sources;
    this.sourcesSince = sources.now();
  }

  rpcFinished(service: string, method: string, code: string, seconds: number): void {
    this.rpcs.observe(service, method, code, seconds);
  }

  deployRejected(kind: ErrorKind): void {
    this.deploys.inc({ outcome: deployOutcomeOf(kind) });
  }

  deployAccepted(created: boolean): void {
    this.deploys.inc({ outcome: created ? 'created' : 'existing' });
  }

  apiCallFinished(operation: string, seconds: number, errorCode: string | undefined): void {
    this.apiRequests.inc({ operation });
    this.apiSeconds.observe({ operation }, seconds);
    if (errorCode !== undefined) this.apiErrors.inc({ operation, code: errorCode });
  }

  /** The text exposition format, as served on /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * Everything that is a state, read at scrape time: the ledger, readiness,
   * the informers and the usage poller. Each group is a list of definitions
   * over the same few shapes rather than a block per series.
   */
  private stateGauges(registers: Registry[]): void {
    // Arrow functions: prom-client calls collect with the gauge as `this`.
    const read = (): ExporterSources | undefined => this.sources;
    const since = (): number => this.sourcesSince;
    ledgerGauges(registers, read);
    new Gauge({
      name: `${PREFIX}ready`,
      help: '1 when every informer is synced with the API server (the gRPC health status is SERVING), else 0.',
      registers,
      collect() {
        const s = read();
        this.set(s?.ready() ? 1 : 0);
      },
    });
    sessionSeries(registers, read);
    informerSeries(registers, read);
    usageSeries(registers, read, since);
  }
}

type Read = () => ExporterSources | undefined;

/** A counter that follows a total someone else keeps, catching up to it at each scrape (never going back). */
function catchUpCounter<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: readonly L[],
  totals: () => ReadonlyArray<readonly [Partial<Record<L, string>>, number]> | undefined,
): void {
  const seen = new Map<string, number>();
  new Counter({
    name: `${PREFIX}${name}`,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, now] of totals() ?? []) {
        const key = JSON.stringify(labels);
        this.inc(labels, Math.max(0, now - (seen.get(key) ?? 0)));
        seen.set(key, Math.max(now, seen.get(key) ?? 0));
      }
    },
  });
}

// Base units, named in a unit label as kube-state-metrics does: cpu in cores (the books keep millicores).
const UNITS = 'cpu in cores, memory in bytes, gpu in devices';
const RESOURCE_UNITS: Readonly<Record<(typeof RESOURCE_KEYS)[number], { unit: string; per: number }>> = {
  cpu: { unit: 'core', per: 1000 },
  memory: { unit: 'byte', per: 1 },
  gpu: { unit: 'device', per: 1 },
};
/** Storage in bytes; the total and what is available exist only when resource.storage limits it. */
const STORAGE_UNITS = 'storage in bytes';
const LEDGER_GAUGES: ReadonlyArray<readonly [string, string, (c: CapacityReport) => CapacityReport['total'], (s: StorageReport) => number | undefined]> = [
  ['capacity', `Capacity lent to the control plane (${UNITS}, ${STORAGE_UNITS}).`, (c) => c.total, (s) => (s.limited ? s.total : undefined)],
  ['capacity_used', `Capacity held by live instances, as reported to the control plane (${UNITS}, ${STORAGE_UNITS}).`, (c) => c.used, (s) => s.used],
  ['capacity_available', `Capacity left for new deploys (${UNITS}, ${STORAGE_UNITS}).`, (c) => c.available, (s) => (s.limited ? s.available : undefined)],
];

function ledgerGauges(registers: Registry[], read: Read): void {
  for (const [name, help, pick, pickStorage] of LEDGER_GAUGES) {
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['resource', 'unit'],
      registers,
      collect() {
        const s = read();
        if (!s) return;
        const values = pick(s.capacity());
        for (const resource of RESOURCE_KEYS) this.set({ resource, unit: RESOURCE_UNITS[resource].unit }, values[resource] / RESOURCE_UNITS[resource].per);
        const storage = s.storage ? pickStorage(s.storage()) : undefined;
        if (storage !== undefined) this.set({ resource: 'storage', unit: 'byte' }, storage);
        else this.remove({ resource: 'storage', unit: 'byte' }); // resource.storage unset by a reload
      },
    });
  }
}

function sessionSeries(registers: Registry[], read: Read): void {
  new Gauge({
    name: `${PREFIX}session_health_check_age_seconds`,
    help: "Seconds since the connected control plane's last HealthCheck (or its Connect), by its provider_id; absent while none is connected.",
    // Labelled, so that no session means no series (an unlabelled gauge always shows a value).
    labelNames: ['provider_id'],
    registers,
    collect() {
      const s = read();
      if (!s) return;
      const { providerId, lastHealthCheckAt } = s.session();
      // A gauge keeps its series until reset: it must vanish with the session.
      this.reset();
      if (providerId !== undefined && lastHealthCheckAt !== undefined) this.set({ provider_id: providerId }, Math.max(0, (s.now() - lastHealthCheckAt) / 1000));
    },
  });
  catchUpCounter(
    registers,
    'session_ends_total',
    'Sessions ended, by reason: disconnected (Disconnect) or expired (no HealthCheck within session.health_timeout_seconds).',
    ['reason'],
    () => {
      const s = read()?.session();
      return s && [[{ reason: 'disconnected' }, s.disconnects] as const, [{ reason: 'expired' }, s.expirations] as const];
    },
  );
}

const INFORMER_TOTALS: ReadonlyArray<readonly [string, string, (w: InformerStats) => number]> = [
  ['informer_restarts_total', 'Watch restarts after errors, per informer.', (w) => w.restarts],
  ['informer_resyncs_total', 'Periodic full relists, per informer.', (w) => w.resyncs],
];

function informerSeries(registers: Registry[], read: Read): void {
  // The informers own these totals; the counters catch up to them at each scrape.
  for (const [name, help, value] of INFORMER_TOTALS) {
    catchUpCounter(registers, name, help, ['informer'], () => {
      const s = read();
      return s && Object.entries(s.informerStats()).map(([informer, stats]) => [{ informer }, value(stats)] as const);
    });
  }
  new Gauge({
    name: `${PREFIX}informer_last_event_age_seconds`,
    help: 'Seconds since the informer last saw an add, update or delete (absent before the first).',
    labelNames: ['informer'],
    registers,
    collect() {
      const s = read();
      if (!s) return;
      const now = s.now();
      for (const [informer, stats] of Object.entries(s.informerStats())) {
        if (stats.lastEventAt !== undefined) this.set({ informer }, Math.max(0, (now - stats.lastEventAt) / 1000));
      }
    },
  });
}

const USAGE_GAUGES: ReadonlyArray<readonly [string, string, (s: ExporterSources, since: number) => number]> = [
  [
    'usage_last_poll_age_seconds',
    'Seconds since the last successful metrics.k8s.io poll; before the first one, since the daemon started (so one alert covers both).',
    (s, since) => Math.max(0, (s.now() - (s.usage().lastSuccessAt ?? since)) / 1000),
  ],
  [
    'usage_last_poll_success_timestamp_seconds',
    'Unix time of the last successful metrics.k8s.io poll; 0 before the first.',
    (s) => (s.usage().lastSuccessAt ?? 0) / 1000,
  ],
  [
    'usage_stale',
    '1 when GetRealTimeUsage reports stale=true (the last successful poll is older than three intervals), else 0.',
    (s) => (s.usage().stale ? 1 : 0),
  ],
];

const USAGE_TOTALS: ReadonlyArray<readonly [string, string, (u: UsagePollStats) => number]> = [
  ['usage_polls_total', 'metrics.k8s.io polls started (each one API request).', (u) => u.pollsTotal],
  ['usage_poll_failures_total', 'metrics.k8s.io polls that failed.', (u) => u.pollsFailed],
  ['usage_polls_skipped_total', 'Poll ticks skipped because the previous poll was still running.', (u) => u.pollsSkipped],
];

function usageSeries(registers: Registry[], read: Read, since: () => number): void {
  for (const [name, help, value] of USAGE_GAUGES) {
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers,
      collect() {
        const s = read();
        if (s) this.set(value(s, since()));
      },
    });
  }
  new Gauge({
    name: `${PREFIX}usage_source`,
    help: '1 for the source GetRealTimeUsage answers from: metrics (metrics.k8s.io) or requests (the fallback).',
    labelNames: ['source'],
    registers,
    collect() {
      const s = read();
      if (!s) return;
      const current = s.usage().source;
      for (const source of new Set(['metrics', 'requests', current])) this.set({ source }, source === current ? 1 : 0);
    },
  });
  for (const [name, help, value] of USAGE_TOTALS) {
    catchUpCounter(registers, name, help, [], () => {
      const s = read();
      return s && [[{}, value(s.usage())] as const];
    });
  }
}

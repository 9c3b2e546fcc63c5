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
import { RESOURCE_KEYS } from '../../core/resources.js';
import type { RpcObserver } from '../grpc/handlers.js';
import type { KubeApiObserver } from '../kube/instrument.js';
import type { WatchStats } from '../kube/watched.js';

export const PREFIX = 'k8s_provider_';
const GRPC_SERVICE = 'provider.Service';

/** What the gauges read at scrape time. */
export interface MetricSources {
  capacity(): CapacityReport;
  session(): SessionStats;
  watchStats(): Record<string, WatchStats>;
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

/** Prometheus base units of the books' resources: the books keep cpu in millicores. */
const RESOURCE_UNITS: Readonly<Record<(typeof RESOURCE_KEYS)[number], { unit: string; per: number }>> = {
  cpu: { unit: 'core', per: 1000 },
  memory: { unit: 'byte', per: 1 },
  gpu: { unit: 'device', per: 1 },
};

/** What the metrics poller reports about itself (a structural subset of MetricsPollerStats). */
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

/** In-band Deploy failures carry a gRPC code; this names them for the deploys counter. */
export function deployOutcomeOf(code: string): DeployOutcome {
  switch (code) {
    case 'RESOURCE_EXHAUSTED':
      return 'rejected';
    case 'INVALID_ARGUMENT':
      return 'invalid';
    case 'ALREADY_EXISTS':
      return 'conflict';
    case 'UNAVAILABLE':
      return 'unavailable';
    case 'PERMISSION_DENIED':
    case 'FAILED_PRECONDITION':
      return 'denied';
    default:
      return 'error';
  }
}

// Sub-millisecond answers from the books up to Deploys that wait on a slow API server.
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const API_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ProviderMetrics implements RpcObserver, KubeApiObserver {
  readonly registry = new Registry();
  private readonly rpcHandled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly rpcSeconds: Histogram<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly deploys: Counter<'outcome'>;
  private readonly apiRequests: Counter<'operation'>;
  private readonly apiErrors: Counter<'operation' | 'code'>;
  private readonly apiSeconds: Histogram<'operation'>;
  private sources: MetricSources | undefined;
  private sourcesSince = 0;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client's gauges named *_total break the convention that only counters end in _total
    // (promtool check metrics flags them); nodejs_active_{handles,requests,resources} by type remain.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    // The names of go-grpc-prometheus and its ports, so existing gRPC dashboards work unchanged.
    this.rpcHandled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by method and status code (in-band Connect/Deploy errors count with their code).',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    });
    this.rpcSeconds = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from receiving an RPC to answering it, by method and status code.',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      buckets: RPC_BUCKETS,
      registers,
    });
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
    this.stateGauges(registers);
  }

  /** Hands over the daemon's state once it exists; until then the state gauges report nothing. */
  collectFrom(sources: MetricSources): void {
    this.sources = sources;
    this.sourcesSince = sources.now();
  }

  rpcFinished(method: string, code: string, seconds: number): void {
    const labels = { grpc_service: GRPC_SERVICE, grpc_method: method, grpc_code: code };
    this.rpcHandled.inc(labels);
    this.rpcSeconds.observe(labels, seconds);
    if (method === 'Deploy' && code !== 'OK') this.deploys.inc({ outcome: deployOutcomeOf(code) });
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

  private stateGauges(registers: Registry[]): void {
    // Arrow functions: prom-client calls collect with the gauge as `this`.
    const read = (): MetricSources | undefined => this.sources;
    const ledger = (name: string, help: string, pick: (c: CapacityReport) => CapacityReport['total']): void => {
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
        },
      });
    };
    // Base units, named in a unit label as kube-state-metrics does: cpu in cores (the books keep millicores).
    const units = 'cpu in cores, memory in bytes, gpu in devices';
    ledger('capacity', `Capacity lent to the control plane (${units}).`, (c) => c.total);
    ledger('capacity_used', `Capacity held by live instances, as reported to the control plane (${units}).`, (c) => c.used);
    ledger('capacity_available', `Capacity left for new deploys (${units}).`, (c) => c.available);

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
    const ended = new Map<string, number>();
    new Counter({
      name: `${PREFIX}session_ends_total`,
      help: 'Sessions ended, by reason: disconnected (Disconnect) or expired (no HealthCheck within session.health_timeout_seconds).',
      labelNames: ['reason'],
      registers,
      collect() {
        const s = read();
        if (!s) return;
        const { disconnects, expirations } = s.session();
        for (const [reason, now] of [['disconnected', disconnects], ['expired', expirations]] as const) {
          this.inc({ reason }, Math.max(0, now - (ended.get(reason) ?? 0)));
          ended.set(reason, Math.max(now, ended.get(reason) ?? 0));
        }
      },
    });

    new Gauge({
      name: `${PREFIX}ready`,
      help: '1 when every informer is synced with the API server (the gRPC health status is SERVING), else 0.',
      registers,
      collect() {
        const s = read();
        this.set(s?.ready() ? 1 : 0);
      },
    });
    const perWatch = (name: string, help: string, value: (w: WatchStats, now: number) => number | undefined): void => {
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['informer'],
        registers,
        collect() {
          const s = read();
          if (!s) return;
          const now = s.now();
          for (const [informer, stats] of Object.entries(s.watchStats())) {
            const v = value(stats, now);
            if (v !== undefined) this.set({ informer }, v);
          }
        },
      });
    };
    const perWatchTotal = (name: string, help: string, value: (w: WatchStats) => number): void => {
      // The informers own these totals; the counter catches up to them at each scrape.
      const seen = new Map<string, number>();
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['informer'],
        registers,
        collect() {
          const s = read();
          if (!s) return;
          for (const [informer, stats] of Object.entries(s.watchStats())) {
            const now = value(stats);
            this.inc({ informer }, Math.max(0, now - (seen.get(informer) ?? 0)));
            seen.set(informer, Math.max(now, seen.get(informer) ?? 0));
          }
        },
      });
    };
    perWatchTotal('informer_restarts_total', 'Watch restarts after errors, per informer.', (w) => w.restarts);
    perWatchTotal('informer_resyncs_total', 'Periodic full relists, per informer.', (w) => w.resyncs);
    perWatch('informer_last_event_age_seconds', 'Seconds since the informer last saw an add, update or delete (absent before the first).', (w, now) =>
      w.lastEventAt === undefined ? undefined : Math.max(0, (now - w.lastEventAt) / 1000),
    );

    const since = (): number => this.sourcesSince;
    new Gauge({
      name: `${PREFIX}usage_last_poll_age_seconds`,
      help: 'Seconds since the last successful metrics.k8s.io poll; before the first one, since the daemon started (so one alert covers both).',
      registers,
      collect() {
        const s = read();
        if (!s) return;
        this.set(Math.max(0, (s.now() - (s.usage().lastSuccessAt ?? since())) / 1000));
      },
    });
    new Gauge({
      name: `${PREFIX}usage_last_poll_success_timestamp_seconds`,
      help: 'Unix time of the last successful metrics.k8s.io poll; 0 before the first.',
      registers,
      collect() {
        const s = read();
        if (!s) return;
        this.set((s.usage().lastSuccessAt ?? 0) / 1000);
      },
    });
    new Gauge({
      name: `${PREFIX}usage_stale`,
      help: '1 when GetRealTimeUsage reports stale=true (the last successful poll is older than three intervals), else 0.',
      registers,
      collect() {
        const s = read();
        if (s) this.set(s.usage().stale ? 1 : 0);
      },
    });
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
    const pollTotal = (name: string, help: string, value: (u: UsagePollStats) => number): void => {
      let seen = 0;
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          const s = read();
          if (!s) return;
          const now = value(s.usage());
          this.inc(Math.max(0, now - seen));
          seen = Math.max(seen, now);
        },
      });
    };
    pollTotal('usage_polls_total', 'metrics.k8s.io polls started (each one API request).', (u) => u.pollsTotal);
    pollTotal('usage_poll_failures_total', 'metrics.k8s.io polls that failed.', (u) => u.pollsFailed);
    pollTotal('usage_polls_skipped_total', 'Poll ticks skipped because the previous poll was still running.', (u) => u.pollsSkipped);
  }
}

/**
 * The composition root: config in, a running daemon out. Every adapter is
 * built here and handed to the core, so the wiring is visible in one file.
 */
import { readFileSync } from 'node:fs';
import type { V1Job, V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Config } from './config/schema.js';
import type { Clock, Logger, CapacitySource } from './core/ports.js';
import { Ledger } from './core/ledger.js';
import { Provider } from './core/provider.js';
import { Session } from './core/session.js';
import { makeClients } from './adapters/kube/client.js';
import { KubeRuntime } from './adapters/kube/runtime.js';
import { WatchedCollection, type WatchStats } from './adapters/kube/watched.js';
import { WorkloadCache } from './adapters/kube/workload-cache.js';
import { JobJanitor } from './adapters/kube/janitor.js';
import { preflight, requiredPermissions } from './adapters/kube/preflight.js';
import { AutoCapacity } from './adapters/kube/auto-capacity.js';
import { LABEL_MANAGED, managedSelector, selectorLabels } from './adapters/kube/labels.js';
import { loadProto } from './adapters/grpc/proto.js';
import { serviceHandlers, type RpcObserver } from './adapters/grpc/handlers.js';
import { bind, createServer, credentialsFor, shutdown, type ServerOptions } from './adapters/grpc/server.js';
import { HealthReporter } from './adapters/grpc/health.js';
import { addReflection } from './adapters/grpc/reflection.js';
import { LeaderRouter, peerCredentials } from './adapters/grpc/forward.js';
import { LeaseClient, leaseWatch } from './adapters/kube/leases.js';
import { LeaseSessionStore } from './adapters/kube/session-lease.js';
import { LeaderElector, replicaAddress, replicaIdentity, type LeaderInfo } from './adapters/kube/leader-election.js';
import { ContinuityMetrics } from './adapters/prom/continuity.js';
import { instrumentClients } from './adapters/kube/instrument.js';
import { ProviderMetrics } from './adapters/prom/metrics.js';
import { serveMetrics, type MetricsEndpoint } from './adapters/prom/http.js';
import { MetricsPoller, type MetricsPollerStats } from './adapters/metrics/poller.js';
import { podMetricsLister } from './adapters/metrics/lister.js';

export interface Daemon {
  readonly port: number;
  readonly provider: Provider;
  readonly cache: WorkloadCache;
  /** This replica's identity and who is active. */
  leader(): LeaderInfo;
  /** True while every watch is synced, i.e. the API server is reachable and the books are current. */
  ready(): boolean;
  watchStats(): Record<string, WatchStats>;
  /** The usage poller: source, last success, failures, polls and skipped polls. */
  usageStats(): MetricsPollerStats;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly clock?: Clock;
  readonly observer?: RpcObserver;
}

/** Every RPC report goes to Prometheus and to the caller's observer, if any. */
function fanOut(observers: ReadonlyArray<RpcObserver | undefined>): RpcObserver {
  const all = observers.filter((o): o is RpcObserver => o !== undefined);
  return {
    rpcFinished: (method, code, seconds) => all.forEach((o) => o.rpcFinished(method, code, seconds)),
    deployAccepted: (created) => all.forEach((o) => o.deployAccepted?.(created)),
  };
}

const systemClock: Clock = { now: () => Date.now() };

export async function startDaemon(config: Config, log: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  const clock = options.clock ?? systemClock;
  const { namespace } = config.kubernetes;
  const metrics = new ProviderMetrics();
  const kube = instrumentClients(makeClients({ kubeconfig: config.kubernetes.kubeconfig, inCluster: config.kubernetes.in_cluster }), metrics);
  log.info({ source: kube.source, server: kube.server, namespace }, 'kubernetes configuration loaded');

  const auto = config.resource.mode === 'auto';
  const checked = await preflight(kube.core, kube.authz, namespace, requiredPermissions(namespace, auto));
  for (const missing of checked.missingOptional) log.warn({ missing }, 'optional permission missing');

  const extraLabels = selectorLabels(config.kubernetes.label_selector);
  const selector = managedSelector(extraLabels);
  const resyncMs = config.kubernetes.resync_seconds * 1000;
  const pods = new WatchedCollection<V1Pod>({
    name: 'pods',
    kubeConfig: kube.kubeConfig,
    path: `/api/v1/namespaces/${namespace}/pods`,
    list: () => kube.core.listNamespacedPod({ namespace, labelSelector: selector }),
    labelSelector: selector,
    resyncMs,
    log,
  });
  const jobs = new WatchedCollection<V1Job>({
    name: 'jobs',
    kubeConfig: kube.kubeConfig,
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    list: () => kube.batch.listNamespacedJob({ namespace, labelSelector: selector }),
    labelSelector: selector,
    resyncMs,
    log,
  });
  const leases = leaseWatch(kube.kubeConfig, kube.coordination, namespace, resyncMs, log);
  const watches: Array<WatchedCollection<V1Pod> | WatchedCollection<V1Job> | WatchedCollection<V1Node> | WatchedCollection<V1Lease>> = [pods, jobs, leases];

  let capacity: CapacitySource;
  if (auto) {
    const nodes = new WatchedCollection<V1Node>({ name: 'nodes', kubeConfig: kube.kubeConfig, path: '/api/v1/nodes', list: () => kube.core.listNode({}), resyncMs, log });
    const allPods = new WatchedCollection<V1Pod>({
      name: 'all-pods',
      kubeConfig: kube.kubeConfig,
      path: '/api/v1/pods',
      list: () => kube.core.listPodForAllNamespaces({}),
      resyncMs,
      log,
    });
    watches.push(nodes, allPods);
    const isManaged = (pod: V1Pod): boolean =>
      pod.metadata?.namespace === namespace &&
      pod.metadata.labels?.[LABEL_MANAGED] === 'true' &&
      Object.entries(extraLabels).every(([k, v]) => pod.metadata?.labels?.[k] === v);
    const cap = { cpu: config.resource.cpu, memory: config.resource.memory, gpu: config.resource.gpu };
    capacity = new AutoCapacity(nodes, allPods, { isManaged, cap });
  } else {
    const total = { cpu: config.resource.cpu ?? 0, memory: config.resource.memory ?? 0, gpu: config.resource.gpu ?? 0 };
    capacity = { total: () => total };
  }

  await Promise.all(watches.map((w) => w.start()));
  const cache = new WorkloadCache(pods, jobs);
  log.info({ pods: pods.items().length, jobs: jobs.items().length, selector }, 'workload cache synced');

  const leaseClient = new LeaseClient(kube.coordination, namespace);
  const sessionStore = new LeaseSessionStore({
    client: leaseClient,
    leases,
    name: config.session.lease_name,
    healthTimeoutSeconds: config.session.health_timeout_seconds,
    persistIntervalMs: config.session.persist_interval_seconds * 1000,
    log,
  });
  const session = new Session(sessionStore, clock, config.session.health_timeout_seconds * 1000, log);
  let listeningPort = config.server.port;
  const election = config.leader_election;
  const elector = new LeaderElector({
    client: leaseClient,
    leases,
    name: election.lease_name,
    identity: replicaIdentity(election.identity, process.env),
    address: () => replicaAddress(election.advertise_address, process.env, config.server.host, listeningPort),
    timing: { leaseDurationMs: election.lease_duration_seconds * 1000, renewDeadlineMs: election.renew_deadline_seconds * 1000, retryPeriodMs: election.retry_period_seconds * 1000 },
    log,
  });
  const ledger = new Ledger(cache, clock, { unseenTtlMs: 60_000 });
  const runtime = new KubeRuntime(kube.core, kube.batch, { namespace, selectorLabels: extraLabels });
  const usage = new MetricsPoller({
    list: podMetricsLister(kube.custom, namespace, selector),
    view: cache,
    intervalMs: config.metrics.interval_seconds * 1000,
    clock,
    log,
  });
  await usage.start();
  const provider = new Provider(
    { session, leadership: elector, ledger, view: cache, runtime, capacity, usage, log },
    {
      resourceTags: config.resource_tags,
      maxInstances: config.limits.max_instances,
      deployDefaults: { jobTimeoutSeconds: config.jobs.timeout_seconds, jobCleanupPolicy: config.jobs.cleanup_policy },
    },
  );
  // Only the active replica cleans up; the standby's informers stay synced to take over at once.
  const janitor = new JobJanitor(jobs, kube.batch, namespace, log);
  const continuity = new ContinuityMetrics(metrics.registry, {
    leading: () => elector.isLeading(),
    leaseTransitions: () => elector.info().leaseTransitions,
    sessionConnected: () => session.current() !== undefined,
    sessionWrites: () => sessionStore.writeStats(),
  });
  elector.onChange((leading) => {
    if (leading) janitor.start();
    else janitor.stop();
    continuity.leaderChanged(leading);
    health.refresh();
  });
  const expiry = setInterval(() => session.expireIfIdle(), 1000);
  expiry.unref();

  const serverOptions: ServerOptions = {
    maxReceiveMessageBytes: config.server.max_receive_message_bytes,
    tls: config.server.tls && {
      cert: readFileSync(config.server.tls.cert_file),
      key: readFileSync(config.server.tls.key_file),
      clientCa: config.server.tls.client_ca_file ? readFileSync(config.server.tls.client_ca_file) : undefined,
    },
  };
  const server = createServer(serverOptions);
  const { grpcObject } = loadProto();
  const router = new LeaderRouter({
    role: elector,
    credentials: peerCredentials(serverOptions.tls),
    waitMs: election.leader_wait_seconds * 1000,
    log,
    observer: continuity,
  });
  server.addService(grpcObject.provider.Service.service, serviceHandlers({ provider, log, observer: fanOut([metrics, options.observer]), router, role: elector }));
  const ready = (): boolean => watches.every((w) => w.synced());
  const health = new HealthReporter(ready, log, 1000, () => elector.isLeading());
  health.addToServer(server);
  addReflection(server);
  const port = await bind(server, `${config.server.host}:${config.server.port}`, credentialsFor(serverOptions));
  listeningPort = port;
  elector.start();
  health.start();
  log.info({ host: config.server.host, port, tls: Boolean(serverOptions.tls) }, 'grpc server listening');

  const watchStats = (): Record<string, WatchStats> => Object.fromEntries(watches.map((w) => [w.name, w.watchStats()]));
  /** Everything but the servers: the poller, timers and watches. */
  const stopBackground = async (): Promise<void> => {
    usage.stop();
    clearInterval(expiry);
    janitor.stop();
    router.close();
    sessionStore.stop();
    await Promise.all(watches.map((w) => w.stop()));
  };
  metrics.collectFrom({
    capacity: () => provider.currentCapacity(),
    watchStats,
    ready,
    usage: () => usage.stats(),
    now: () => clock.now(),
  });
  let endpoint: MetricsEndpoint | undefined;
  if (config.metrics.port !== 0) {
    try {
      endpoint = await serveMetrics(metrics, config.metrics.host, config.metrics.port, log);
    } catch (err) {
      // Half a daemon must not linger: release the gRPC port and the watches before failing.
      health.drain();
      server.forceShutdown();
      await elector.stop();
      await stopBackground();
      throw new Error(`metrics endpoint ${config.metrics.host}:${config.metrics.port}: ${(err as Error).message}`);
    }
  }

  return {
    port,
    provider,
    cache,
    ready,
    watchStats,
    usageStats: () => usage.stats(),
    leader: () => elector.info(),
    async stop(): Promise<void> {
      // Hand over first: new connections go to the other replica, the standby
      // takes the Lease within a moment, and calls still arriving here are
      // forwarded to it while this one drains.
      health.drain();
      await elector.stop(() => provider.settle());
      const how = await shutdown(server, config.server.shutdown_grace_seconds * 1000, log);
      await sessionStore.flush();
      await endpoint?.close();
      await stopBackground();
      log.info({ shutdown: how }, 'daemon stopped');
    },
  };
}

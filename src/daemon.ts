/**
 * The composition root: config in, a running daemon out. Every adapter is
 * built here and handed to the core, so the wiring is visible in one file.
 * startDaemon reads as its steps: clients and preflight, informerList, capacity,
 * core, servers.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type {
  V1Deployment,
  V1Job,
  V1Lease,
  V1NetworkPolicy,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1ResourceQuota,
  V1Service,
} from '@kubernetes/client-node';
import type { Config } from './config/schema.js';
import type { Clock, Logger, CapacitySource } from './core/ports.js';
import type { Resources } from './core/resources.js';
import { Ledger } from './core/ledger.js';
import { Provider } from './core/provider.js';
import { Session } from './core/session.js';
import { makeClients, type KubeClients } from './adapters/kube/client.js';
import { KubeRuntime } from './adapters/kube/runtime.js';
import type { Informer, InformerStats } from './adapters/kube/informer.js';
import { informers, type Informers } from './adapters/kube/informers.js';
import { WorkloadCache } from './adapters/kube/workload-cache.js';
import { KubeLogs } from './adapters/kube/logs.js';
import { InstanceTracker } from './core/instance-tracker.js';
import { InstanceWatchHub } from './core/instance-watch.js';
import { InstanceService } from './core/instance-service.js';
import { Reconciler, type ReconcilerObserver } from './core/reconciler.js';
import { preflight, quotaGuardPermissions, requiredPermissions } from './adapters/kube/preflight.js';
import { AutoCapacity } from './adapters/kube/auto-capacity.js';
import { LABEL_MANAGED, managedSelector, selectorLabels } from './shared/labels.js';
import type { RpcObserver } from './adapters/grpc/rpc.js';
import { providerService } from './adapters/grpc/provider-service.js';
import { instancesService } from './adapters/grpc/instances-service.js';
import { registerServices, type GrpcService } from './adapters/grpc/services.js';
import { bind, createServer, credentialsFor, shutdown, type ServerOptions } from './adapters/grpc/server.js';
import { authInterceptor, HEALTH_SERVICE, REFLECTION_SERVICES } from './adapters/grpc/auth.js';
import { TokenFile } from './adapters/grpc/token-file.js';
import { ImagePolicy } from './core/images.js';
import { HealthReporter } from './adapters/grpc/health.js';
import { PollSummary } from './adapters/grpc/poll-summary.js';
import { addReflection } from './adapters/grpc/reflection.js';
import { instrumentClients } from './adapters/kube/instrument.js';
import { PrometheusExporter } from './adapters/prometheus/exporter.js';
import { InstanceMetrics } from './adapters/prometheus/instances.js';
import { servePrometheus, type PrometheusEndpoint } from './adapters/prometheus/endpoint.js';
import { UsagePoller, type UsagePollerStats } from './adapters/usage/poller.js';
import { podMetricsLister } from './adapters/usage/lister.js';
import { LeaderRouter, cachedReplicaHeaders, peerCredentials } from './adapters/grpc/forward.js';
import { LeaseClient, leaseInformer, leaseName } from './adapters/kube/leases.js';
import { LeaseSessionStore } from './adapters/kube/session-lease.js';
import { LeaderElector, replicaAddress, replicaIdentity, type LeaderInfo } from './adapters/kube/leader-election.js';
import { ContinuityMetrics } from './adapters/prometheus/continuity.js';
import { NetworkObjects } from './adapters/kube/network-objects.js';
import { InformedNetworkDirectory } from './adapters/kube/network-directory.js';
import { DEFAULT_RETRY } from './adapters/kube/retry.js';
import type { NetworkDirectory } from './core/workload-network.js';
import { KubeHttpProxy } from './adapters/kube/pod-proxy.js';
import { InstanceRequests } from './core/instance-request.js';
import { KubeEventWriter, daemonObject } from './adapters/kube/events.js';
import { EventMetrics } from './adapters/prometheus/events.js';
import { noEvents } from './core/events.js';
import { hostname } from 'node:os';
import { quotaInformer, ResourceQuotaGuard } from './adapters/kube/quota-guard.js';
import { desiredQuota } from './core/quota-guard.js';
import { gpuPlacementOf } from './config/gpu.js';
import { quotaGuardMetrics } from './adapters/prometheus/quota-guard.js';

export interface Daemon {
  readonly port: number;
  readonly provider: Provider;
  readonly cache: WorkloadCache;
  /** This replica's identity and who is active. */
  leader(): LeaderInfo;
  readonly instances: InstanceService;
  readonly tracker: InstanceTracker;
  /** True while every watch is synced, i.e. the API server is reachable and the books are current. */
  ready(): boolean;
  informerStats(): Record<string, InformerStats>;
  /** The usage poller: source, last success, failures, polls and skipped polls. */
  usageStats(): UsagePollerStats;
  /**
   * Applies a reloaded resource.cpu/memory/gpu at once: the capacity lent in
   * static mode, the cap in auto mode. Admission and the books follow on the
   * next call. (resource.mode itself needs a restart.)
   */
  setQuota(resource: Config['resource']): void;
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
    rpcFinished: (service, method, code, seconds) => {
      for (const o of all) o.rpcFinished(service, method, code, seconds);
    },
    deployAccepted: (created) => {
      for (const o of all) o.deployAccepted?.(created);
    },
    deployRejected: (kind) => {
      for (const o of all) o.deployRejected?.(kind);
    },
  };
}

const systemClock: Clock = { now: () => Date.now() };

type AnyInformer =
  | Informer<V1Pod>
  | Informer<V1Job>
  | Informer<V1Deployment>
  | Informer<V1PersistentVolumeClaim>
  | Informer<V1Node>
  | Informer<V1Lease>
  | Informer<V1ResourceQuota>
  | Informer<V1Service>
  | Informer<V1NetworkPolicy>;

interface KubeAccess {
  readonly kube: KubeClients;
  /** The operator's extra labels (kubernetes.label_selector) that every workload carries. */
  readonly extraLabels: Record<string, string>;
  readonly selector: string;
  /**
   * The preflight, under way: it runs while the informers make their first
   * lists (a restart is as short as the slower of the two), and start-up
   * fails with its answer before anything is served.
   */
  readonly checked: Promise<void>;
}

/** Step 1: the instrumented clients, and a preflight that fails fast on missing permissions. */
function connectKube(config: Config, prometheus: PrometheusExporter, log: Logger): KubeAccess {
  const { namespace } = config.kubernetes;
  const kube = instrumentClients(
    makeClients({
      kubeconfig: config.kubernetes.kubeconfig,
      inCluster: config.kubernetes.in_cluster,
      responseCompression: config.kubernetes.response_compression,
    }),
    prometheus,
  );
  log.info({ source: kube.source, server: kube.server, namespace, compression: kube.compression }, 'kubernetes configuration loaded');
  const ownNamespace = config.events.enabled && process.env.POD_NAME ? process.env.POD_NAMESPACE : undefined;
  const checked = preflight(kube.core, kube.authz, namespace, [
    ...requiredPermissions(namespace, config.resource.mode === 'auto', ownNamespace || undefined),
    ...quotaGuardPermissions(namespace, config.resource.enforce_with_resourcequota),
  ]).then((result) => {
    for (const missing of result.missingOptional) log.warn({ missing }, 'optional permission missing');
  });
  const extraLabels = selectorLabels(config.kubernetes.label_selector);
  return { kube, extraLabels, selector: managedSelector(extraLabels), checked };
}

/** Step 3: fixed capacity from the config, or (mode auto) derived from informerList of nodes and all pods. */
function capacitySource(
  config: Config,
  access: KubeAccess,
  build: Informers,
): { capacity: CapacitySource; informerList: AnyInformer[]; setQuota: (resource: Config['resource']) => void } {
  const { namespace } = config.kubernetes;
  // resource.storage is lent as configured in both modes (nodes do not say how much disk may be claimed).
  let storage = config.resource.storage;
  if (config.resource.mode !== 'auto') {
    const totalOf = (r: Config['resource']): Resources => ({ cpu: r.cpu ?? 0, memory: r.memory ?? 0, gpu: r.gpu ?? 0 });
    let total = totalOf(config.resource);
    const setQuota = (r: Config['resource']): void => {
      total = totalOf(r);
      storage = r.storage;
    };
    return { capacity: { total: () => total, storage: () => storage }, informerList: [], setQuota };
  }
  const nodes = build.nodes();
  const allPods = build.allPods();
  const isManaged = (pod: V1Pod): boolean =>
    pod.metadata?.namespace === namespace &&
    pod.metadata.labels?.[LABEL_MANAGED] === 'true' &&
    Object.entries(access.extraLabels).every(([k, v]) => pod.metadata?.labels?.[k] === v);
  const capOf = (r: Config['resource']): Partial<Resources> => ({ cpu: r.cpu, memory: r.memory, gpu: r.gpu });
  const auto = new AutoCapacity(nodes, allPods, { isManaged, cap: capOf(config.resource) });
  return {
    capacity: { total: () => auto.total(), storage: () => storage },
    informerList: [nodes, allPods],
    setQuota: (r) => {
      auto.setCap(capOf(r));
      storage = r.storage;
    },
  };
}

interface Core {
  readonly session: Session;
  readonly sessionStore: LeaseSessionStore;
  readonly elector: LeaderElector;
  readonly provider: Provider;
  readonly usage: UsagePoller;
  readonly instances: InstanceService;
  readonly tracker: InstanceTracker;
  /** SendHttpRequest. */
  readonly requests: InstanceRequests;
  /** Everything that deletes in the background: cleanup policy, retention, stuck instances. */
  readonly reconciler: Reconciler;
  /** The Kubernetes Events writer; undefined when events.enabled is false. */
  readonly events: KubeEventWriter | undefined;
  /** resource.enforce_with_resourcequota: the ResourceQuota kept equal to the capacity. */
  readonly quotaGuard: ResourceQuotaGuard | undefined;
  /** Stops the core's background work (poller, reconciler, instance tracking, session expiry). */
  stop(): void;
}

/** Step 4: the session, books, runtime and usage poller, and the background work that keeps them current. */
interface CoreInputs {
  readonly access: KubeAccess;
  readonly cache: WorkloadCache;
  readonly capacity: CapacitySource;
  readonly leases: Informer<V1Lease>;
  /** Watches the daemon's ResourceQuota when the quota guard is on. */
  readonly quotas: Informer<V1ResourceQuota> | undefined;
  /** The port the gRPC server listens on, once it does: part of the address the other replica dials. */
  readonly listeningPort: () => number;
  readonly clock: Clock;
  readonly instanceMetrics: ReconcilerObserver & { watchResynced(): void };
  /** The instances' Services and NetworkPolicies as observed. */
  readonly network: NetworkDirectory;
  readonly eventMetrics: EventMetrics;
}

/** events.*: the writer of Kubernetes Events, on the workloads and on the daemon's own pod (in-cluster) or its session Lease. */
function eventWriter(
  config: Config,
  kube: KubeClients,
  session: { name: string; leases: Informer<V1Lease>; client: LeaseClient },
  inputs: CoreInputs,
  log: Logger,
): KubeEventWriter | undefined {
  const e = config.events;
  if (!e.enabled) return undefined;
  const { namespace } = config.kubernetes;
  return new KubeEventWriter({
    api: kube.events,
    namespace,
    daemonObject: daemonObject(process.env, {
      name: session.name,
      namespace,
      find: () => session.leases.items().find((l) => l.metadata?.name === session.name),
      get: () => session.client.get(session.name),
    }),
    reportingInstance: process.env.POD_NAME || hostname(),
    timing: {
      writeIntervalMs: e.series_interval_seconds * 1000,
      finishAfterMs: e.series_finish_seconds * 1000,
      maxEntries: e.queue_size,
      maxAttempts: 5,
      retryBaseMs: 1000,
    },
    rate: { burst: e.burst, perSecond: e.writes_per_second },
    log,
    observer: inputs.eventMetrics,
  });
}

async function startCore(config: Config, inputs: CoreInputs, log: Logger): Promise<Core> {
  const { access, cache, capacity, leases, listeningPort, clock } = inputs;
  const { kube, extraLabels, selector } = access;
  const { namespace } = config.kubernetes;
  // The session and the leader lock live in Leases beside the workloads (ADR 0003).
  const leaseClient = new LeaseClient(kube.coordination, namespace);
  const sessionLease = leaseName(config.session.lease_name, 'k8s-provider-session', extraLabels);
  const events = eventWriter(config, kube, { name: sessionLease, leases, client: leaseClient }, inputs, log);
  const recorder = events ?? noEvents;
  const sessionStore = new LeaseSessionStore({
    client: leaseClient,
    leases,
    name: sessionLease,
    healthTimeoutSeconds: config.session.health_timeout_seconds,
    persistIntervalMs: config.session.persist_interval_seconds * 1000,
    log,
  });
  const session = new Session(sessionStore, clock, config.session.health_timeout_seconds * 1000, log, recorder);
  const election = config.leader_election;
  const elector = new LeaderElector({
    client: leaseClient,
    leases,
    name: leaseName(election.lease_name, 'k8s-provider-leader', extraLabels),
    identity: replicaIdentity(election.identity, process.env),
    address: () => replicaAddress(election.advertise_address, process.env, config.server.host, listeningPort()),
    timing: {
      leaseDurationMs: election.lease_duration_seconds * 1000,
      renewDeadlineMs: election.renew_deadline_seconds * 1000,
      retryPeriodMs: election.retry_period_seconds * 1000,
    },
    log,
  });
  const tracker = new InstanceTracker(cache, clock, {
    stuckAfterMs: config.instances.stuck_after_seconds * 1000,
    keepRemovedMs: config.instances.keep_finished_seconds * 1000,
    maxRemoved: config.instances.max_finished,
  });
  tracker.start();
  const hub = new InstanceWatchHub(tracker, { bufferSize: config.instances.watch_buffer, onResync: () => inputs.instanceMetrics.watchResynced() });
  // A Service or NetworkPolicy that appears or goes after its pod: watchers see the instance's new endpoint.
  const stopNetworkEvents = inputs.network.onChange?.((id) => {
    const status = tracker.get(id);
    if (status) hub.republish(status);
  });
  // A stuck instance holds nothing, whatever its pod still shows.
  const ledger = new Ledger(cache, clock, { unseenTtlMs: 60_000, released: () => tracker.stuck() });
  const quotaGuard = inputs.quotas
    ? new ResourceQuotaGuard(kube.core, inputs.quotas, {
        namespace,
        name: leaseName('', 'k8s-provider-quota', extraLabels),
        limits: desiredQuota(config.resource, config.limits.max_instances),
        leading: () => elector.isLeading(),
        log,
      })
    : undefined;
  // The active replica puts the quota in place as soon as it leads, and keeps it there.
  if (quotaGuard) elector.onChange((leading) => leading && void quotaGuard.reconcile());
  const networkObjects = new NetworkObjects(kube.core, kube.networking, { namespace, selectorLabels: extraLabels, rules: config.network });
  const runtime = new KubeRuntime(
    kube.core,
    kube.batch,
    kube.apps,
    { namespace, selectorLabels: extraLabels, security: config.workloads.security, quotaGuard: quotaGuard !== undefined },
    DEFAULT_RETRY,
    networkObjects,
  );
  const usage = new UsagePoller({
    list: podMetricsLister(kube.custom, namespace, selector),
    view: cache,
    intervalMs: config.usage.interval_seconds * 1000,
    clock,
    log,
  });
  await usage.start();
  const provider = new Provider(
    {
      session,
      leadership: elector,
      ledger,
      view: cache,
      runtime,
      capacity,
      usage,
      log,
      events: recorder,
      quota: quotaGuard,
      network: inputs.network,
      statuses: tracker,
    },
    {
      resourceTags: config.resource_tags,
      maxInstances: config.limits.max_instances,
      deployTimeoutMs: config.kubernetes.deploy_timeout_seconds * 1000,
      deployDefaults: {
        jobTimeoutSeconds: config.jobs.timeout_seconds,
        jobCleanupPolicy: config.jobs.cleanup_policy,
        storage: { defaultClass: config.storage.default_class, allowedClasses: config.storage.allowed_classes },
        gpuPlacement: gpuPlacementOf(config.gpu),
        network: { isolate: config.network.isolate, allowOptOut: config.network.allow_opt_out, peerLabel: config.network.peer_label },
      },
      imagePolicy: new ImagePolicy(config.workloads.allowed_images),
    },
  );
  const instances = new InstanceService({
    session,
    tracker,
    hub,
    view: cache,
    ledger,
    runtime,
    usage,
    logs: new KubeLogs(kube.kubeConfig, { namespace, connectTimeoutMs: config.instances.logs_connect_timeout_seconds * 1000 }),
    settled: (id) => provider.settled(id),
    scale: (input) => provider.scale(input),
    log,
    events: recorder,
    network: inputs.network,
  });
  const requests = new InstanceRequests({
    session,
    status: (id) => tracker.get(id),
    network: inputs.network,
    http: new KubeHttpProxy(kube.kubeConfig, { namespace }),
    limits: {
      maxRequestBytes: config.instances.request.max_request_bytes,
      maxResponseBytes: config.instances.request.max_response_bytes,
      defaultTimeoutMs: config.instances.request.timeout_seconds * 1000,
    },
  });
  const reconciler = new Reconciler(
    { tracker, runtime, clock, log, observer: inputs.instanceMetrics, events: recorder },
    {
      deleteStuck: config.instances.delete_stuck,
      retention: { keepFinishedMs: config.instances.keep_finished_seconds * 1000, maxFinished: config.instances.max_finished },
      retryMs: 5000,
    },
  );
  // Background deletion (cleanup policy, retention, stuck workloads) runs only on the active replica.
  elector.onChange((leading) => (leading ? reconciler.start() : reconciler.stop()));
  const expiry = setInterval(() => session.expireIfIdle(), 1000);
  expiry.unref();
  return {
    session,
    sessionStore,
    elector,
    provider,
    usage,
    instances,
    tracker,
    requests,
    reconciler,
    events,
    quotaGuard,
    stop: () => {
      quotaGuard?.stop();
      usage.stop();
      clearInterval(expiry);
      reconciler.stop();
      stopNetworkEvents?.();
      hub.close();
      tracker.stop();
      sessionStore.stop();
    },
  };
}

interface GrpcServing {
  readonly server: grpc.Server;
  readonly health: HealthReporter;
  readonly port: number;
}

interface Authentication {
  readonly interceptors: grpc.ServerInterceptor[];
  /** Starts and stops watching the token file for rotations. */
  start(): void;
  stop(): void;
}

/** server.auth: the token file, watched for rotation, and the interceptor in front of every service. */
function authentication(config: Config, log: Logger, observer: RpcObserver): Authentication {
  const auth = config.server.auth;
  if (!auth) return { interceptors: [], start: () => {}, stop: () => {} };
  const tokens = TokenFile.open(auth.token_file, log);
  const openServices = new Set<string>([
    ...(auth.unauthenticated_health ? [HEALTH_SERVICE] : []),
    ...(auth.unauthenticated_reflection ? REFLECTION_SERVICES : []),
  ]);
  log.info({ tokenFile: auth.token_file, tokens: tokens.size, openServices: [...openServices] }, 'token authentication on');
  return { interceptors: [authInterceptor({ tokens, openServices, log, observer })], start: () => tokens.start(), stop: () => tokens.stop() };
}

/** Step 5: the gRPC server with its services, and health and reflection derived from the same list. */
async function startGrpc(
  config: Config,
  services: readonly GrpcService[],
  ready: () => boolean,
  leading: () => boolean,
  log: Logger,
  auth: Authentication,
): Promise<GrpcServing> {
  const serverOptions = { ...serverOptionsOf(config), interceptors: auth.interceptors };
  const server = createServer(serverOptions);
  registerServices(server, services);
  const health = new HealthReporter(
    ready,
    log,
    services.map((s) => s.name),
    1000,
    leading,
  );
  health.addToServer(server);
  addReflection(server, services);
  const port = await bind(server, `${config.server.host}:${config.server.port}`, credentialsFor(serverOptions));
  health.start();
  log.info({ host: config.server.host, port, tls: Boolean(serverOptions.tls), auth: Boolean(config.server.auth) }, 'grpc server listening');
  auth.start();
  return { server, health, port };
}

function serverOptionsOf(config: Config): ServerOptions {
  return {
    maxReceiveMessageBytes: config.server.max_receive_message_bytes,
    tls: config.server.tls && {
      cert: readFileSync(config.server.tls.cert_file),
      key: readFileSync(config.server.tls.key_file),
      clientCa: config.server.tls.client_ca_file ? readFileSync(config.server.tls.client_ca_file) : undefined,
    },
  };
}

export async function startDaemon(config: Config, log: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  const clock = options.clock ?? systemClock;
  const prometheus = new PrometheusExporter();
  const observer = fanOut([prometheus, options.observer]);
  // 0. the token file, read before anything starts: a bad one stops start-up at once.
  const auth = authentication(config, log, observer);

  // 1. clients and preflight (awaited with the informers' first lists below)
  const access = connectKube(config, prometheus, log);

  // 2. informers of our workloads, 3. capacity (which may watch nodes and all pods)
  const build = informers(access.kube, {
    namespace: config.kubernetes.namespace,
    selector: access.selector,
    resyncMs: config.kubernetes.resync_seconds * 1000,
    pageSize: config.kubernetes.list_page_size,
    log,
    events: prometheus,
  });
  const pods = build.managedPods();
  const jobs = build.managedJobs();
  const deployments = build.managedDeployments();
  const claims = build.managedClaims();
  const leases = leaseInformer(access.kube, config.kubernetes.namespace, config.kubernetes.resync_seconds * 1000, log);
  const serviceInformer = build.managedServices();
  const policyInformer = build.managedNetworkPolicies();
  const network = new InformedNetworkDirectory(serviceInformer, policyInformer, config.kubernetes.namespace);
  const { capacity, informerList: capacityWatches, setQuota } = capacitySource(config, access, build);
  const quotas = config.resource.enforce_with_resourcequota
    ? quotaInformer(access.kube, config.kubernetes.namespace, config.kubernetes.resync_seconds * 1000, log)
    : undefined;
  const informerList: AnyInformer[] = [
    pods,
    jobs,
    deployments,
    claims,
    leases,
    serviceInformer,
    policyInformer,
    ...capacityWatches,
    ...(quotas ? [quotas] : []),
  ];
  try {
    await Promise.all([access.checked, ...informerList.map((w) => w.start())]);
  } catch (err) {
    // Missing permissions (or no namespace): nothing may keep running.
    await Promise.all(informerList.map((w) => w.stop()));
    throw err;
  }
  const cache = new WorkloadCache(pods, jobs, deployments, claims);
  log.info(
    { pods: pods.items().length, jobs: jobs.items().length, deployments: deployments.items().length, claims: claims.items().length, selector: access.selector },
    'workload cache synced',
  );

  // 4. core
  const instanceMetrics = new InstanceMetrics(prometheus.registry);
  const eventMetrics = new EventMetrics(prometheus.registry);
  let listeningPort = config.server.port;
  const core = await startCore(
    config,
    { access, cache, capacity, leases, quotas, listeningPort: () => listeningPort, clock, instanceMetrics, eventMetrics, network },
    log,
  );
  const { provider, usage, elector, session, sessionStore } = core;
  instanceMetrics.watchersFrom(() => core.instances.watchStats().watchers);
  quotaGuardMetrics(prometheus.registry, () => provider.quotaGuard());
  const continuity = new ContinuityMetrics(prometheus.registry, {
    leading: () => elector.isLeading(),
    leaseTransitions: () => elector.info().leaseTransitions,
    sessionWrites: () => sessionStore.writeStats(),
  });
  // Mutations reaching the standby run on the active replica (the routing design in the README).
  const router = new LeaderRouter({
    role: elector,
    credentials: peerCredentials(serverOptionsOf(config).tls),
    waitMs: config.leader_election.leader_wait_seconds * 1000,
    log,
    observer: continuity,
  });
  const responseHeaders = cachedReplicaHeaders(elector);
  const polls = new PollSummary(log);
  polls.start();

  // 5. servers: gRPC (services, health, reflection), then Prometheus
  const services: GrpcService[] = [
    providerService({ provider, log, observer, router, responseHeaders, polls }),
    instancesService({ instances: core.instances, requests: core.requests, usage, log, observer, router, responseHeaders, polls }),
  ];
  const ready = (): boolean => informerList.every((w) => w.synced());
  const { server, health, port } = await startGrpc(config, services, ready, () => elector.isLeading(), log, auth);
  listeningPort = port;
  elector.onChange((leading) => {
    continuity.leaderChanged(leading);
    health.refresh();
  });
  elector.start();

  const informerStats = (): Record<string, InformerStats> => Object.fromEntries(informerList.map((w) => [w.name, w.informerStats()]));
  /** Everything but the servers: the poller, timers and informerList. */
  const stopBackground = async (): Promise<void> => {
    // The last counts of event series (and the events of drained calls) are written while the clients and watches still work.
    await core.events?.stop();
    polls.stop();
    auth.stop();
    router.close();
    core.stop();
    await Promise.all(informerList.map((w) => w.stop()));
  };
  prometheus.collectFrom({
    capacity: () => provider.currentCapacity(),
    storage: () => provider.storage(),
    session: () => ({ providerId: session.current()?.providerId, lastHealthCheckAt: session.current()?.lastSeen, ...session.ends() }),
    informerStats,
    ready,
    usage: () => usage.stats(),
    now: () => clock.now(),
  });
  let endpoint: PrometheusEndpoint | undefined;
  if (config.prometheus.port !== 0) {
    try {
      endpoint = await servePrometheus(prometheus, config.prometheus.host, config.prometheus.port, log);
    } catch (err) {
      // Half a daemon must not linger: release the gRPC port and the informerList before failing.
      health.drain();
      server.forceShutdown();
      await elector.stop();
      await stopBackground();
      throw new Error(`prometheus endpoint ${config.prometheus.host}:${config.prometheus.port}: ${(err as Error).message}`);
    }
  }

  return {
    port,
    provider,
    cache,
    instances: core.instances,
    tracker: core.tracker,
    ready,
    informerStats,
    usageStats: () => usage.stats(),
    leader: () => elector.info(),
    setQuota: (resource) => {
      setQuota(resource);
      core.quotaGuard?.setLimits(desiredQuota(resource, config.limits.max_instances));
    },
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

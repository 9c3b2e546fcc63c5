/** Builds the KubeConfig in the documented order and the typed API clients. */
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  NetworkingV1Api,
  ServerConfiguration,
  createConfiguration,
  type Configuration,
} from '@kubernetes/client-node';
import { failedPrecondition } from '../../core/errors.js';
import { PooledHttpLibrary, PooledKubeConfig, wantsCompression, type ResponseCompression } from './http.js';

export interface KubeSettings {
  readonly kubeconfig: string; // '' = not set
  readonly inCluster: boolean;
  /** kubernetes.response_compression; the CLI leaves it out (auto). */
  readonly responseCompression?: ResponseCompression;
}

export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  /** Deployments (kind DEPLOYMENT). */
  readonly apps: AppsV1Api;
  readonly authz: AuthorizationV1Api;
  readonly custom: CustomObjectsApi;
  /** Leases: the session and the leader lock. */
  readonly coordination: CoordinationV1Api;
  /** NetworkPolicies that isolate instances. */
  readonly networking: NetworkingV1Api;
  /** events.k8s.io/v1: what the daemon reports on the objects it acts on. */
  readonly events: EventsV1Api;
  /** Where the configuration came from, for the start-up log. */
  readonly source: string;
  readonly server: string;
  /** Whether responses are asked for gzipped (kubernetes.response_compression). */
  readonly compression: boolean;
}

/**
 * Order: kubernetes.kubeconfig when set; else the service account when
 * in_cluster is true; else client-node's default (KUBECONFIG, ~/.kube/config,
 * in-cluster, localhost).
 */
export function loadKubeConfig(settings: KubeSettings): { kubeConfig: PooledKubeConfig; source: string; server: string } {
  const kc = new PooledKubeConfig();
  let source: string;
  if (settings.kubeconfig) {
    try {
      kc.loadFromFile(settings.kubeconfig);
    } catch (err) {
      throw failedPrecondition(`kubernetes.kubeconfig ${settings.kubeconfig}: ${(err as Error).message}`);
    }
    source = settings.kubeconfig;
  } else if (settings.inCluster) {
    try {
      kc.loadFromCluster();
    } catch (err) {
      throw failedPrecondition(`kubernetes.in_cluster is true but the service account cannot be read: ${(err as Error).message}`);
    }
    source = 'in-cluster service account';
  } else {
    kc.loadFromDefault();
    source = process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : 'default loading order';
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw failedPrecondition(`no current cluster in the Kubernetes configuration (${source}): check current-context`);
  if (!cluster.server) throw failedPrecondition(`clusters[${cluster.name}].cluster.server is missing (${source})`);
  return { kubeConfig: kc, source, server: cluster.server };
}

export function makeClients(settings: KubeSettings): KubeClients {
  const { kubeConfig, source, server } = loadKubeConfig(settings);
  const compression = wantsCompression(settings.responseCompression ?? 'auto', server);
  // What kubeConfig.makeApiClient builds, sending through one pooled library for all the clients.
  const configuration: Configuration = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: kubeConfig },
    // The API clients and the watches (through kubeConfig) share one pool of connections.
    httpApi: new PooledHttpLibrary(compression, kubeConfig.agents),
  });
  return {
    kubeConfig,
    core: new CoreV1Api(configuration),
    batch: new BatchV1Api(configuration),
    apps: new AppsV1Api(configuration),
    authz: new AuthorizationV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
    networking: new NetworkingV1Api(configuration),
    events: new EventsV1Api(configuration),
    source,
    server,
    compression,
  };
}

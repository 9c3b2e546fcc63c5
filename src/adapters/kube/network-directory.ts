/**
 * The instances' Services and NetworkPolicies as the informers last saw
 * them (NetworkDirectory): what GetInstance, List and Watch report about
 * how to reach an instance, without an API call.
 */
import type { KubernetesObject, V1NetworkPolicy, V1Service } from '@kubernetes/client-node';
import type { InstanceNetworkState, NetworkDirectory } from '../../core/workload-network.js';
import { ANNOTATION_INSTANCE_ID } from '../../shared/labels.js';
import type { CollectionChange, Informer } from './informer.js';

/** What a Service tells about reaching its instance; undefined for a Service type the daemon does not make. */
export function serviceState(service: V1Service, namespace: string): InstanceNetworkState['endpoint'] {
  const type = service.spec?.type ?? 'ClusterIP';
  if (type !== 'ClusterIP' && type !== 'NodePort') return undefined;
  const name = service.metadata?.name ?? '';
  return {
    serviceName: name,
    dnsName: `${name}.${service.metadata?.namespace ?? namespace}.svc`,
    clusterIp: service.spec?.clusterIP ?? '',
    ports: (service.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort ?? 0 })),
    expose: type,
  };
}

const instanceOf = (o: KubernetesObject): string | undefined => o.metadata?.annotations?.[ANNOTATION_INSTANCE_ID];

export class InformedNetworkDirectory implements NetworkDirectory {
  private index = new Map<string, InstanceNetworkState>();
  private seen = '';

  constructor(
    private readonly services: Informer<V1Service>,
    private readonly policies: Informer<V1NetworkPolicy>,
    private readonly namespace: string,
  ) {}

  of(instanceId: string): InstanceNetworkState | undefined {
    this.refresh();
    return this.index.get(instanceId);
  }

  onChange(listener: (instanceId: string) => void): () => void {
    const forward = (change: CollectionChange<KubernetesObject>): void => {
      const id = change.type === 'reset' ? undefined : instanceOf(change.object);
      if (id !== undefined) listener(id);
    };
    const offServices = this.services.onChange(forward);
    const offPolicies = this.policies.onChange(forward);
    return () => {
      offServices();
      offPolicies();
    };
  }

  /** Rebuilt only when either informer changed since the last read. */
  private refresh(): void {
    const version = `${this.services.version}/${this.policies.version}`;
    if (version === this.seen) return;
    const index = new Map<string, InstanceNetworkState>();
    for (const s of this.services.items()) {
      const id = instanceOf(s);
      if (id !== undefined && !s.metadata?.deletionTimestamp) index.set(id, { endpoint: serviceState(s, this.namespace), networkPolicy: '' });
    }
    for (const p of this.policies.items()) {
      const id = instanceOf(p);
      if (id === undefined || p.metadata?.deletionTimestamp) continue;
      index.set(id, { endpoint: index.get(id)?.endpoint, networkPolicy: p.metadata?.name ?? '' });
    }
    this.index = index;
    this.seen = version;
  }
}

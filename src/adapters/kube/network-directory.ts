/**
 * The instances' Services and NetworkPolicies as the informers last saw
 * them (NetworkDirectory): what GetInstance, List and Watch report about
 * how to reach an instance, without an API call.
 */
import type { KubernetesObject, V1NetworkPolicy, V1NetworkPolicyPeer, V1Service } from '@kubernetes/client-node';
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

const labelsText = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** One ingress source as text, and the peers' own label when it is the instance's peers. */
function sourceOf(peer: V1NetworkPolicyPeer, common: ReadonlySet<string>): { text: string; peers?: string } | undefined {
  if (peer.ipBlock) return { text: peer.ipBlock.cidr + (peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(', ')}` : '') };
  if (peer.namespaceSelector) {
    const labels = peer.namespaceSelector.matchLabels ?? {};
    const name = labels['kubernetes.io/metadata.name'];
    return { text: name && Object.keys(labels).length === 1 ? `namespace ${name}` : `namespaces ${labelsText(labels) || '(all)'}` };
  }
  if (!peer.podSelector) return undefined;
  const all = peer.podSelector.matchLabels ?? {};
  const own = labelsText(Object.fromEntries(Object.entries(all).filter(([k]) => !common.has(k))));
  return { text: `pods ${own || labelsText(all) || '(all in the namespace)'}`, peers: own };
}

/**
 * What an instance's NetworkPolicy lets in, read back from the object: its
 * ingress sources as text, and the peer group (the peers' label beyond the
 * labels every instance's pod selector carries).
 */
export function isolationState(policy: V1NetworkPolicy): Pick<InstanceNetworkState, 'ingressFrom' | 'peerGroup'> {
  const common = new Set(Object.keys(policy.spec?.podSelector?.matchLabels ?? {}));
  // A listed object is a client-node model (`_from`); one from the watch is the API's JSON (`from`).
  const peers = (policy.spec?.ingress ?? []).flatMap((rule) => rule._from ?? (rule as { from?: V1NetworkPolicyPeer[] }).from ?? []);
  const sources = peers.map((p) => sourceOf(p, common)).filter((x) => x !== undefined);
  return { ingressFrom: sources.map((x) => x.text), peerGroup: sources.find((x) => x.peers)?.peers ?? '' };
}

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
      index.set(id, { endpoint: index.get(id)?.endpoint, networkPolicy: p.metadata?.name ?? '', ...isolationState(p) });
    }
    this.index = index;
    this.seen = version;
  }
}

/**
 * Pure builders for an instance's network objects: the Service that makes
 * its ports reachable and the NetworkPolicy that isolates it. Both carry the
 * workload's labels and an ownerReference to it, so the garbage collector
 * removes them with the workload, whoever deletes it.
 */
import type {
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyIngressRule,
  V1ObjectMeta,
  V1OwnerReference,
  V1Service,
  V1NetworkPolicyEgressRule,
} from '@kubernetes/client-node';
import { servicePortName, type DeploySpec } from '../../core/deploy-spec.js';
import type { WorkloadKind } from '../../core/instances.js';
import { ANNOTATION_INSTANCE_ID, ANNOTATION_PROVIDER_ID, LABEL_INSTANCE_ID, LABEL_MANAGED, LABEL_PROVIDER_ID } from '../../shared/labels.js';
import { labelValue, workloadName } from './naming.js';
import { workloadOwnerReference } from './workload-api.js';

/** network.ingress / network.egress from the config: what an isolated instance may talk to. */
export interface IsolationRules {
  readonly ingress: { readonly from_cidrs: readonly string[]; readonly from_namespaces: readonly string[] };
  readonly egress: { readonly allow_all: boolean; readonly to_cidrs: readonly string[]; readonly dns: boolean };
}

/** Isolation that lets nothing in but the instance's peers, and everything out. */
export const CLOSED_INGRESS: IsolationRules = {
  ingress: { from_cidrs: [], from_namespaces: [] },
  egress: { allow_all: true, to_cidrs: [], dns: true },
};

export interface NetworkManifestContext {
  readonly namespace: string;
  /** Labels from kubernetes.label_selector, on every object the daemon makes. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly rules: IsolationRules;
}

/** The workload the objects belong to. */
export interface Owner {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly uid: string;
}

export function ownerReference(owner: Owner): V1OwnerReference {
  return workloadOwnerReference(owner.kind, owner.name, owner.uid);
}

/** The labels that pick the instance's pods (a Job's pods carry them too). */
export function instancePodSelector(spec: DeploySpec, ctx: NetworkManifestContext): Record<string, string> {
  return { ...ctx.selectorLabels, [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: labelValue(spec.instanceId) };
}

function metadata(spec: DeploySpec, ctx: NetworkManifestContext, owner: Owner): V1ObjectMeta {
  return {
    name: workloadName(spec.instanceId),
    namespace: ctx.namespace,
    labels: {
      ...spec.labels,
      ...ctx.selectorLabels,
      [LABEL_MANAGED]: 'true',
      [LABEL_PROVIDER_ID]: labelValue(spec.providerId),
      [LABEL_INSTANCE_ID]: labelValue(spec.instanceId),
    },
    annotations: { [ANNOTATION_INSTANCE_ID]: spec.instanceId, [ANNOTATION_PROVIDER_ID]: spec.providerId },
    ownerReferences: [ownerReference(owner)],
  };
}

/** Undefined when the instance is not exposed (no ports, or expose None). */
export function serviceManifest(spec: DeploySpec, ctx: NetworkManifestContext, owner: Owner): V1Service | undefined {
  const { expose } = spec.network;
  if (expose === 'None' || spec.ports.length === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(spec, ctx, owner),
    spec: {
      type: expose,
      selector: instancePodSelector(spec, ctx),
      ports: spec.ports.map((p) => ({ name: servicePortName(p), port: p.containerPort, targetPort: p.containerPort, protocol: p.protocol })),
    },
  };
}

const ipBlock = (cidr: string): V1NetworkPolicyPeer => ({ ipBlock: { cidr } });
const namespaceByName = (name: string): V1NetworkPolicyPeer => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });

/**
 * Undefined when the instance is not isolated. Ingress is denied but for the
 * configured CIDRs and namespaces and the instance's peers (same value of
 * the peer label, in this namespace). Egress is open unless the config
 * closes it; then only DNS, the peers and the configured CIDRs are allowed.
 * A rule is written only with at least one source: an empty `from` would
 * mean "from anywhere".
 */
export function networkPolicyManifest(spec: DeploySpec, ctx: NetworkManifestContext, owner: Owner): V1NetworkPolicy | undefined {
  if (!spec.network.isolate) return undefined;
  const { rules } = ctx;
  const peers: V1NetworkPolicyPeer[] = spec.network.peers
    ? [{ podSelector: { matchLabels: { ...ctx.selectorLabels, [LABEL_MANAGED]: 'true', [spec.network.peers.key]: spec.network.peers.value } } }]
    : [];
  const from = [...rules.ingress.from_cidrs.map(ipBlock), ...rules.ingress.from_namespaces.map(namespaceByName), ...peers];
  const ingress: V1NetworkPolicyIngressRule[] = from.length > 0 ? [{ _from: from }] : [];
  const policyTypes = rules.egress.allow_all ? ['Ingress'] : ['Ingress', 'Egress'];
  const egress: V1NetworkPolicyEgressRule[] = [];
  if (!rules.egress.allow_all) {
    if (rules.egress.dns) {
      egress.push({
        to: [{ namespaceSelector: {} }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      });
    }
    const to = [...rules.egress.to_cidrs.map(ipBlock), ...peers];
    if (to.length > 0) egress.push({ to });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(spec, ctx, owner),
    spec: {
      podSelector: { matchLabels: instancePodSelector(spec, ctx) },
      policyTypes,
      ingress,
      ...(rules.egress.allow_all ? {} : { egress }),
    },
  };
}

/**
 * How an instance is reached and isolated (issue 15, items 1 and 3): the
 * validated choice a deploy makes, and what the instance API reports about
 * the objects that carry it. Free of Kubernetes types: the adapter turns a
 * WorkloadNetwork into a Service and a NetworkPolicy.
 */
/** ClusterIP: a Service reachable inside the cluster; NodePort: also on every node; None: no Service. */
export type Expose = 'ClusterIP' | 'NodePort' | 'None';

/** The request's network fields as decoded from the wire, not yet trusted. */
export interface NetworkInput {
  readonly expose?: Expose | undefined;
  readonly isolate?: boolean | undefined;
  readonly peerLabel?: string | undefined;
}

type WireNetwork = { readonly isolate?: boolean | undefined; readonly peerLabel?: string | undefined } | undefined;

export function networkInputOf(w: { readonly expose?: Expose | undefined; readonly network?: WireNetwork }): NetworkInput {
  return { expose: w.expose, isolate: w.network?.isolate, peerLabel: w.network?.peerLabel };
}

/** What the fields add to the spec hash: nothing when absent, so requests without them hash as before. */
export function networkHashPart(w: { readonly expose?: Expose | undefined; readonly network?: WireNetwork }): Record<string, unknown> {
  const n = w.network;
  const network = n && (n.isolate !== undefined || n.peerLabel) ? { isolate: n.isolate, peerLabel: n.peerLabel || undefined } : undefined;
  return { expose: w.expose, network };
}

/** network.* from the config that a deploy needs. */
export interface NetworkDefaults {
  readonly isolate: boolean;
  /** Whether a workload may set network.isolate=false. */
  readonly allowOptOut: boolean;
  /** A workload label key; '' = no peers unless the workload names one. */
  readonly peerLabel: string;
}

export const DEFAULT_NETWORK: NetworkDefaults = { isolate: true, allowOptOut: false, peerLabel: '' };

export const networkDefaults = (d: { readonly network?: NetworkDefaults | undefined }): NetworkDefaults => d.network ?? DEFAULT_NETWORK;

/** A validated network choice, defaults applied. */
export interface WorkloadNetwork {
  /** None when the workload declares no ports. */
  readonly expose: Expose;
  readonly isolate: boolean;
  /** Instances with this label (key and value of the workload's own) may reach this one. */
  readonly peers: { readonly key: string; readonly value: string } | undefined;
}

export const NO_NETWORK: WorkloadNetwork = { expose: 'None', isolate: false, peers: undefined };

/**
 * Appends what is wrong to `problems`; the field names are the wire's.
 * `ports` and `labels` are the workload's (already checked elsewhere);
 * `labelKeyProblem` is deploy-spec's label key check (passed in: no cycle).
 */
export function validateNetwork(
  input: NetworkInput,
  ports: readonly { readonly containerPort: number; readonly protocol: string }[],
  labels: Readonly<Record<string, string>>,
  defaults: NetworkDefaults,
  problems: string[],
  labelKeyProblem: (key: string) => string | undefined,
): WorkloadNetwork {
  const requested = input.expose;
  if ((requested === 'ClusterIP' || requested === 'NodePort') && ports.length === 0) {
    problems.push(`workload.expose ${requested === 'NodePort' ? 'NODE_PORT' : 'CLUSTER_IP'} needs at least one of workload.ports`);
  }
  const expose: Expose = ports.length === 0 ? 'None' : (requested ?? 'ClusterIP');
  if (input.isolate === false && !defaults.allowOptOut) {
    problems.push('workload.network.isolate: false is not allowed by this provider (network.allow_opt_out is off)');
  }
  const isolate = input.isolate ?? defaults.isolate;
  let peers: WorkloadNetwork['peers'];
  if (input.peerLabel) {
    const keyProblem = labelKeyProblem(input.peerLabel);
    if (keyProblem) problems.push(`workload.network.peer_label ${keyProblem}`);
    else if (labels[input.peerLabel] === undefined) {
      problems.push(`workload.network.peer_label ${JSON.stringify(input.peerLabel.slice(0, 200))} is not one of workload.labels`);
    } else peers = { key: input.peerLabel, value: labels[input.peerLabel] ?? '' };
  } else if (defaults.peerLabel && labels[defaults.peerLabel] !== undefined) {
    // The provider-wide peer label applies only to workloads that carry it.
    peers = { key: defaults.peerLabel, value: labels[defaults.peerLabel] ?? '' };
  }
  return { expose, isolate, peers };
}

export interface EndpointPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  /** NodePort Services only; 0 otherwise. */
  readonly nodePort: number;
}

/** How to reach an instance, as the cluster shows it now. */
export interface InstanceEndpoint {
  readonly serviceName: string;
  /** <service>.<namespace>.svc */
  readonly dnsName: string;
  readonly clusterIp: string;
  readonly podIp: string;
  readonly ports: readonly EndpointPort[];
  readonly expose: Exclude<Expose, 'None'>;
}

/** The network objects of one instance as last observed. */
export interface InstanceNetworkState {
  /** Without the pod IP, which comes from the instance's pod. */
  readonly endpoint: Omit<InstanceEndpoint, 'podIp'> | undefined;
  /** The NetworkPolicy's name; '' when the instance is not isolated. */
  readonly networkPolicy: string;
  /** What the NetworkPolicy lets in, one source a line ("10.0.0.0/8", "namespace monitoring", "pods app=shop"); empty: nothing. */
  readonly ingressFrom?: readonly string[] | undefined;
  /** The instance's peer group ("app=shop"): instances with that label may reach it; '' when it has none. */
  readonly peerGroup?: string | undefined;
}

/**
 * The instances' Services and NetworkPolicies as last observed (an informer
 * cache). Contract: `of` answers from memory, without I/O, and returns
 * undefined for an instance that has neither.
 */
export interface NetworkDirectory {
  of(instanceId: string): InstanceNetworkState | undefined;
  /** Calls the listener with the instance id after each change to its objects; returns an unsubscribe function. */
  onChange?(listener: (instanceId: string) => void): () => void;
}

/** What Deploy and the instance API report: the endpoint with the pod IP filled in. */
export function endpointOf(state: InstanceNetworkState | undefined, podIp: string): InstanceEndpoint | undefined {
  return state?.endpoint && { ...state.endpoint, podIp };
}

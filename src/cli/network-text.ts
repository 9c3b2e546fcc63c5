/**
 * How the CLI shows an instance's reachability and isolation (issue 15):
 * the rows `describe` adds, the line `deploy` adds, and the deploy flags
 * --expose, --isolate/--no-isolate and --peer-label. Pure.
 */
import type { Instance__Output } from '../adapters/grpc/contract.js';
import type { Workload } from '../adapters/grpc/contract.js';

/** The instance's endpoint as scripts get it with --json. */
export interface EndpointData {
  readonly serviceName: string;
  readonly serviceType: string;
  readonly dnsName: string;
  readonly clusterIp: string;
  readonly podIp: string;
  readonly ports: readonly { readonly name: string; readonly port: number; readonly protocol: string; readonly nodePort: number }[];
}

export function endpointData(i: Pick<Instance__Output, 'endpoint'>): EndpointData | null {
  const e = i.endpoint;
  if (!e) return null;
  return {
    serviceName: e.serviceName,
    serviceType: e.serviceType,
    dnsName: e.dnsName,
    clusterIp: e.clusterIp,
    podIp: e.podIp,
    ports: e.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })),
  };
}

/** "http 8080/TCP, tcp-9000 9000/TCP -> node port 30080" */
export function portsText(ports: EndpointData['ports']): string {
  return ports.map((p) => `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol}${p.nodePort ? ` -> node port ${p.nodePort}` : ''}`).join(', ');
}

/** The rows `describe` shows after the pod's. */
export function networkRows(endpoint: EndpointData | null, networkPolicy: string): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (endpoint) {
    rows.push(['Service', `${endpoint.serviceName} (${endpoint.serviceType}, cluster IP ${endpoint.clusterIp || '-'})`]);
    rows.push(['DNS', endpoint.dnsName]);
    rows.push(['Ports', portsText(endpoint.ports) || '-']);
  } else rows.push(['Service', '-']);
  // The deploy's expose choice as the Service shows it; no Service: no ports, or NOT_EXPOSED.
  rows.push(['Expose', endpoint ? (endpoint.serviceType === 'NodePort' ? 'NODE_PORT' : 'CLUSTER_IP') : 'none (no Service)']);
  rows.push(['Isolation', networkPolicy ? `NetworkPolicy ${networkPolicy}` : 'none']);
  return rows;
}

/** "app=shop, team=a", sorted; '-' without labels. */
export function labelsLine(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(', ') : '-';
}

/** The peer group, then one row per ingress source (the label on the first only). */
export function isolationRows(networkPolicy: string, ingressFrom: readonly string[], peerGroup: string): Array<[string, string]> {
  const rows: Array<[string, string]> = [['Peers', peerGroup || '-']];
  if (!networkPolicy) rows.push(['Ingress', 'from anywhere (not isolated)']);
  else if (ingressFrom.length === 0) rows.push(['Ingress', 'from nowhere (all denied)']);
  else rows.push(...ingressFrom.map((source, n): [string, string] => [n === 0 ? 'Ingress' : '', `from ${source}`]));
  return rows;
}

export const NETWORK_FLAGS = {
  expose: { type: 'string' },
  isolate: { type: 'boolean' },
  'no-isolate': { type: 'boolean' },
  'peer-label': { type: 'string' },
} as const;

const EXPOSE: Record<string, 'CLUSTER_IP' | 'NODE_PORT' | 'NOT_EXPOSED'> = { 'cluster-ip': 'CLUSTER_IP', 'node-port': 'NODE_PORT', none: 'NOT_EXPOSED' };

/** The deploy flags as workload fields; only those given are set. Throws a message for a bad value. */
export function networkFlags(values: {
  readonly expose?: string | undefined;
  readonly isolate?: boolean | undefined;
  readonly 'no-isolate'?: boolean | undefined;
  readonly 'peer-label'?: string | undefined;
}): Pick<Workload, 'expose' | 'network'> {
  const out: Pick<Workload, 'expose' | 'network'> = {};
  if (values.expose !== undefined) {
    const expose = EXPOSE[values.expose.toLowerCase()];
    if (!expose) throw new Error(`--expose must be cluster-ip, node-port or none, not "${values.expose}"`);
    out.expose = expose;
  }
  if (values.isolate && values['no-isolate']) throw new Error('--isolate and --no-isolate contradict each other');
  const isolate = values.isolate ? true : values['no-isolate'] ? false : undefined;
  if (isolate !== undefined || values['peer-label'] !== undefined) {
    out.network = { ...(isolate !== undefined ? { isolate } : {}), ...(values['peer-label'] !== undefined ? { peerLabel: values['peer-label'] } : {}) };
  }
  return out;
}

/** The line `deploy` adds when the instance got a Service or a NetworkPolicy. */
export function deployNetworkLine(res: {
  readonly endpoint?: { readonly dnsName: string; readonly clusterIp: string; readonly ports: EndpointData['ports'] } | null;
  readonly networkPolicy?: string;
}): string {
  const parts: string[] = [];
  if (res.endpoint) parts.push(`reachable at ${res.endpoint.dnsName} (${res.endpoint.clusterIp}) ports ${portsText(res.endpoint.ports)}`);
  if (res.networkPolicy) parts.push(`isolated by NetworkPolicy ${res.networkPolicy}`);
  return parts.length > 0 ? `  ${parts.join('; ')}\n` : '';
}

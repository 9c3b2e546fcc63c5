/**
 * A KubeConfig whose requests share one keep-alive HTTPS agent.
 *
 * client-node 1.x builds a new https.Agent for every request (in
 * applySecurityAuthentication for the API clients, applyToHTTPSOptions for
 * watches, logs and the pod proxy), so every Kubernetes call opened a TLS
 * connection of its own: a secure context built from the CA, the client
 * certificate and the key, then a full handshake, all on the event loop. On
 * a 2-core machine that is a few milliseconds per call in which no gRPC call
 * is answered: a HealthCheck that arrives while the daemon renews its lease or
 * writes the session's last-seen waited for it. One agent with keepAlive
 * reuses the connections (and TLS sessions) instead.
 *
 * The agent is replaced when the TLS options change (client-node rereads the
 * CA and certificate files on every request, so a rotated certificate shows
 * here), and the idle connections of the old one are closed; proxy agents
 * (clusters[].proxy-url) are left as client-node makes them.
 */
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

type SecurityContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type HttpsOptions = Parameters<KubeConfig['applyToHTTPSOptions']>[0];
type AgentOptions = Record<string, unknown>;

/** Keys https.Agent adds to or that this class sets on the options: not part of what the connection is. */
const NOT_TLS = new Set(['keepAlive', 'path', 'noDelay']);

function same(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  return a === b;
}

/** Whether two agents' options make the same connections (the same CA, certificate, key, server name, ...). */
export function sameConnectionOptions(a: AgentOptions, b: AgentOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => !NOT_TLS.has(k)));
  return [...keys].every((k) => same(a[k], b[k]));
}

export class PooledKubeConfig extends KubeConfig {
  private shared: https.Agent | undefined;

  override async applySecurityAuthentication(context: SecurityContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const agent = context.getAgent();
    if (agent) context.setAgent(this.share(agent));
  }

  override async applyToHTTPSOptions(opts: HttpsOptions): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    const o = opts as { agent?: unknown };
    o.agent = this.share(o.agent);
  }

  /** The shared agent in place of a fresh one with the same options; anything but a plain https.Agent as it is. */
  private share<A>(agent: A): A | https.Agent {
    if (!(agent instanceof https.Agent) || agent.constructor !== https.Agent) return agent;
    const options = (agent as unknown as { options: AgentOptions }).options;
    const current = this.shared;
    if (current && sameConnectionOptions((current as unknown as { options: AgentOptions }).options, options)) return current;
    if (current) for (const sockets of Object.values(current.freeSockets)) for (const s of sockets ?? []) s.destroy();
    this.shared = new https.Agent({ ...(options as https.AgentOptions), keepAlive: true });
    return this.shared;
  }
}

/**
 * The HTTP library every generated API client sends through: client-node's
 * own fetch library, with two changes that matter at scale.
 *
 * - **Connections are reused.** client-node gives each request a new
 *   https.Agent, so every call (each page of a list too) opened a new TCP
 *   connection and made a full TLS handshake, parsing the client key again:
 *   at 10,000 pods about a quarter of a second of the start-up's CPU, and a
 *   round trip per request. Requests whose TLS settings are the same share
 *   one keep-alive agent; when the settings change (a rotated client
 *   certificate) a new agent takes over, so nothing stale is ever sent.
 * - **Compression is optional.** The API server gzips large responses when
 *   asked, which costs both sides CPU: for the 36 MB of a 10,000-pod list,
 *   about 0.3-0.6 s of the API server's and 0.1 s of the daemon's on this
 *   project's 2-core machine, to save bandwidth that a loopback or
 *   in-cluster link does not lack (the Kubernetes control-plane components
 *   turn it off for the same reason). `kubernetes.response_compression`.
 *
 * Proxy agents (a kubeconfig proxy-url) and plain-HTTP agents are passed on
 * as client-node made them.
 *
 * The watches, pod logs and the pod proxy do not go through an HTTP library:
 * client-node hands them an agent of its own through the KubeConfig
 * (applyToHTTPSOptions). PooledKubeConfig gives them the same pool's agent,
 * so a watch restart costs no handshake either: when the API server or a
 * load balancer drops every watch at once, the daemon used to make one
 * handshake per watch in a burst, its event loop blocked for tens of ms.
 */
import { Agent } from 'node:https';
import { isIP } from 'node:net';
import { IsomorphicFetchHttpLibrary, KubeConfig, type HttpLibrary, type Observable, type RequestContext, type ResponseContext } from '@kubernetes/client-node';

/** The TLS settings that make two of client-node's agents interchangeable. */
const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

/**
 * How long an idle connection is kept: well under the API server's own idle
 * timeout (90 s), so the daemon closes first and never sends on a connection
 * the server is closing.
 */
export const IDLE_CONNECTION_MS = 30_000;

export type ResponseCompression = 'auto' | 'on' | 'off';

/**
 * Whether to ask for compressed responses: `auto` asks only when the API
 * server is reached over a network that may be slow, that is neither on
 * loopback nor the in-cluster Service address.
 */
export function wantsCompression(setting: ResponseCompression, server: string, serviceHost = process.env.KUBERNETES_SERVICE_HOST): boolean {
  if (setting !== 'auto') return setting === 'on';
  let host: string;
  try {
    host = new URL(server).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return true;
  }
  if (host === 'localhost' || (serviceHost !== undefined && host === serviceHost)) return false;
  if (isIP(host) === 4) return !host.startsWith('127.');
  if (isIP(host) === 6) return host !== '::1';
  return true;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}

/** The keep-alive agent for the TLS settings in force, shared by everything that talks to the API server. */
export class AgentPool {
  private pooled: Agent | undefined;

  /** The pooled agent in place of a fresh one client-node made; anything but exactly an https.Agent as it is. */
  swap<A>(fresh: A): A | Agent {
    // Exactly client-node's https.Agent: proxy agents subclass other agents and keep their own.
    return fresh instanceof Agent && fresh.constructor === Agent ? this.agentLike(fresh) : fresh;
  }

  /** The keep-alive agent for these TLS settings (the current one while they have not changed). */
  private agentLike(fresh: Agent): Agent {
    const options = fresh.options as Record<string, unknown>;
    const current = this.pooled?.options as Record<string, unknown> | undefined;
    if (this.pooled && current && TLS_KEYS.every((k) => sameValue(options[k], current[k]))) return this.pooled;
    // The agent it replaces is not destroyed: its requests in flight finish, and its idle connections time out.
    // The timeout closes idle pooled connections only: on a connection in use (a quiet watch) it is an event nobody acts on.
    this.pooled = new Agent({ ...options, keepAlive: true, timeout: IDLE_CONNECTION_MS, scheduling: 'lifo' });
    return this.pooled;
  }
}

export class PooledHttpLibrary implements HttpLibrary {
  private readonly fetch = new IsomorphicFetchHttpLibrary();

  constructor(
    private readonly compression: boolean,
    private readonly agents = new AgentPool(),
  ) {}

  send(request: RequestContext): Observable<ResponseContext> {
    const fresh = request.getAgent();
    if (fresh) request.setAgent(this.agents.swap(fresh));
    if (!this.compression) request.setHeaderParam('Accept-Encoding', 'identity');
    return this.fetch.send(request);
  }
}

/** A KubeConfig that gives watches, logs and the pod proxy its pool's agent (see the top of this file). */
export class PooledKubeConfig extends KubeConfig {
  readonly agents = new AgentPool();

  override async applyToHTTPSOptions(opts: Parameters<KubeConfig['applyToHTTPSOptions']>[0]): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    const o = opts as { agent?: unknown };
    o.agent = this.agents.swap(o.agent);
  }
}

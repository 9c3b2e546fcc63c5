/**
 * A TLS-terminating proxy in front of the test cluster's kube-apiserver, for
 * tests of a slow or throttling API server. The daemon gets a kubeconfig that
 * points at the proxy (kubeconfig()), so it reaches Kubernetes through
 * client-node as always; the proxy forwards every request to the real API
 * server with the admin credentials of the cluster's kubeconfig, and can:
 *
 * - hold every answer for `latencyMs` (the request is forwarded at once, so
 *   a create the caller gave up on still lands, as on a slow server);
 * - answer 429 Too Many Requests with Retry-After to the requests a rule
 *   matches, as API Priority and Fairness does, without forwarding them;
 * - drop every open watch, as a restarting server or a load balancer does.
 *
 * It records every request (time, method, path, object name of a create,
 * status answered) for the test to check retry timing against.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { TestPki } from './certs.js';

export interface ProxiedRequest {
  /** ms since the proxy started. */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  /** metadata.name of a POSTed object. */
  readonly name: string | undefined;
  /** The Accept-Encoding the client sent ('' for none). */
  readonly acceptEncoding: string;
  /** What the proxy answered (0 while it has not answered, or when the caller went away first). */
  status: number;
  /** ms since the proxy started, when the answer went out. */
  answeredAt: number | undefined;
}

export interface ThrottleRule {
  readonly match: (r: { method: string; path: string; name: string | undefined }) => boolean;
  /** How many matching requests get the 429; then the rule is spent. */
  remaining: number;
  readonly retryAfterSeconds: number;
}

export class ApiProxy {
  /** Added to every answer while set. */
  latencyMs = 0;
  readonly requests: ProxiedRequest[] = [];
  /** TLS connections clients have opened to the proxy. */
  connections = 0;
  private readonly throttles: ThrottleRule[] = [];
  private readonly watches = new Set<http.ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly started = Date.now();
  private readonly agent: https.Agent;
  private readonly upstream: URL;
  private server: https.Server | undefined;

  constructor(
    target: KubeConfig,
    private readonly pki: TestPki,
  ) {
    const cluster = target.getCurrentCluster()!;
    const user = target.getCurrentUser()!;
    this.upstream = new URL(cluster.server);
    const pem = (data: string | undefined, file: string | undefined): Buffer | undefined =>
      data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined;
    this.agent = new https.Agent({
      keepAlive: true,
      ca: pem(cluster.caData, cluster.caFile),
      cert: pem(user.certData ?? undefined, user.certFile ?? undefined),
      key: pem(user.keyData ?? undefined, user.keyFile ?? undefined),
    });
  }

  async start(): Promise<void> {
    this.server = https.createServer({ cert: readFileSync(this.pki.serverCert), key: readFileSync(this.pki.serverKey) }, (req, res) => this.handle(req, res));
    this.server.on('secureConnection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  /** Writes a kubeconfig for the proxy (trusting the test CA) into the PKI's folder and returns its path. */
  kubeconfig(): string {
    const path = join(this.pki.dir, 'proxy.kubeconfig');
    const ca = readFileSync(this.pki.caCert).toString('base64');
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'proxy', cluster: { server: `https://127.0.0.1:${this.port}`, 'certificate-authority-data': ca } }],
        users: [{ name: 'proxied', user: {} }],
        contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxied' } }],
        'current-context': 'proxy',
      }),
    );
    return path;
  }

  /** The next `times` requests that `match` accepts are answered 429 with this Retry-After. */
  throttle(match: ThrottleRule['match'], times: number, retryAfterSeconds: number): ThrottleRule {
    const rule: ThrottleRule = { match, remaining: times, retryAfterSeconds };
    this.throttles.push(rule);
    return rule;
  }

  clearThrottles(): void {
    this.throttles.length = 0;
  }

  /** Ends every open watch response (the client sees its watch end). */
  dropWatches(): number {
    const n = this.watches.size;
    for (const res of this.watches) res.destroy();
    this.watches.clear();
    return n;
  }

  openWatches(): number {
    return this.watches.size;
  }

  now(): number {
    return Date.now() - this.started;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.agent.destroy();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      let name: string | undefined;
      if (method === 'POST' && body.length > 0) {
        try {
          name = (JSON.parse(body.toString()) as { metadata?: { name?: string } }).metadata?.name;
        } catch {
          // not JSON: no name
        }
      }
      const acceptEncoding = String(req.headers['accept-encoding'] ?? '');
      const record: ProxiedRequest = { at: this.now(), method, path, name, acceptEncoding, status: 0, answeredAt: undefined };
      this.requests.push(record);
      const rule = this.throttles.find((t) => t.remaining > 0 && t.match({ method, path, name }));
      if (rule) {
        rule.remaining--;
        const status = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'too many requests, please try again later.',
          reason: 'TooManyRequests',
          details: { retryAfterSeconds: rule.retryAfterSeconds },
          code: 429,
        };
        setTimeout(
          () => this.answer(record, res, 429, { 'content-type': 'application/json', 'retry-after': String(rule.retryAfterSeconds) }, JSON.stringify(status)),
          this.latencyMs,
        );
        return;
      }
      this.forward(req, res, body, record);
    });
  }

  private answer(record: ProxiedRequest, res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: string): void {
    if (res.destroyed) return;
    record.status = status;
    record.answeredAt = this.now();
    res.writeHead(status, headers).end(body);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, record: ProxiedRequest): void {
    const headers = { ...req.headers, host: this.upstream.host };
    delete headers.authorization;
    const up = https.request(
      { protocol: 'https:', hostname: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.agent },
      (upRes) => {
        const isWatch = /[?&]watch=(true|1)/.test(req.url ?? '');
        setTimeout(() => {
          if (res.destroyed) {
            upRes.destroy();
            return;
          }
          record.status = upRes.statusCode ?? 0;
          record.answeredAt = this.now();
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          // A watch sends its headers at once and then nothing until an event: so must the proxy.
          res.flushHeaders();
          if (isWatch) {
            this.watches.add(res);
            res.on('close', () => {
              this.watches.delete(res);
              upRes.destroy();
            });
          }
          upRes.pipe(res);
        }, this.latencyMs);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.end(body);
  }
}

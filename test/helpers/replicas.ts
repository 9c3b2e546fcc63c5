/**
 * Replicas of the daemon as separate processes (the built dist/src/main.js),
 * what sits between them and the world in a cluster, and a client that
 * behaves like iarnet:
 * - ReplicaProcess: one daemon process with a fixed port, restartable.
 * - TcpFront: a Service in miniature, forwarding each new connection to a
 *   replica that reports SERVING on grpc.health.v1 (polled every 100 ms).
 * - TcpProxy: a cuttable link, put between a daemon and kube-apiserver to
 *   partition it while the process lives.
 * - IarnetClient: HealthCheck every second with a 5 s deadline (one failure
 *   is a disconnect for iarnet) plus a steady trickle of deploys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { stringify } from 'yaml';
import { makeClient, makeClientAt } from './daemon.js';
import { makeKubeConfig, waitFor } from './cluster.js';
import { observeCall, peakRssOf } from './fault-figures.js';
import { freePort } from './net.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';

const root = resolve(import.meta.dirname, '..', '..');
export const MAIN = join(root, 'dist', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-replicas-'));

/** A JSON log line; `at` is its time in ms since epoch (the daemon logs ISO times). */
export type LogLine = Record<string, unknown> & { msg?: string; at: number };

/** A kubeconfig for the test cluster whose server is `server` (e.g. a TcpProxy in front of it). */
export function kubeconfigVia(server: string): string {
  const kc = makeKubeConfig();
  const cluster = kc.getCurrentCluster()!;
  const path = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  const exported = JSON.parse(kc.exportConfig()) as { clusters: Array<{ name: string; cluster: { server: string } }> };
  for (const c of exported.clusters) if (c.name === cluster.name) c.cluster.server = server;
  writeFileSync(path, JSON.stringify(exported));
  return path;
}

/** The test cluster's API server as host and port. */
export function apiServerAddress(): { host: string; port: number } {
  const url = new URL(makeKubeConfig().getCurrentCluster()!.server);
  return { host: url.hostname, port: Number(url.port || 443) };
}

export class ReplicaProcess {
  child: ChildProcess | undefined;
  /** Every log line of every run, in order. */
  readonly logs: LogLine[] = [];
  /** Signals sent to a running process, by name (each restart's process counts). */
  readonly signals: Partial<Record<NodeJS.Signals, number>> = {};
  private exited: Promise<number | null> = Promise.resolve(null);
  private peak = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly config: Record<string, unknown>,
  ) {}

  static async create(name: string, config: Record<string, unknown>): Promise<ReplicaProcess> {
    return new ReplicaProcess(name, await freePort(), config);
  }

  /** Starts the process and resolves once it listens and says whether it is active. */
  async start(): Promise<void> {
    const config = {
      ...this.config,
      server: { host: '127.0.0.1', shutdown_grace_seconds: 3, ...(this.config.server as object), port: this.port },
      leader_election: { ...(this.config.leader_election as object), identity: this.name },
      log: { level: 'info' },
    };
    const path = join(dir, `${this.name}-${Date.now()}.yaml`);
    writeFileSync(path, stringify(config));
    const child = spawn(process.execPath, [MAIN, '--config', path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const run = this.logs.length;
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        const parsed = JSON.parse(l) as Record<string, unknown>;
        this.logs.push({ ...parsed, at: Date.parse(String(parsed.time)), replica: this.name });
      }
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(`${this.name} to listen`, () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}: ${stderr}`);
      return this.logs.slice(run).some((l) => l.msg === 'grpc server listening');
    });
  }

  /** Sends the signal (if the process still runs) and waits for the process to end. */
  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child && this.running()) {
      // The last chance to read its peak: a killed process leaves no /proc entry.
      this.peak = Math.max(this.peak, peakRssOf(this.child.pid));
      // A signal sent again to a process already on its way out is not another fault.
      if (!this.child.killed) this.signals[signal] = (this.signals[signal] ?? 0) + 1;
      this.child.kill(signal);
    }
    return this.exited;
  }

  /** The highest VmHWM (peak RSS, bytes) of this replica's processes so far, the running one included. */
  peakRss(): number {
    return Math.max(this.peak, this.running() ? peakRssOf(this.child?.pid) : 0);
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines with this message since `since` (ms since epoch). */
  lines(msg: string, since = 0): LogLine[] {
    return this.logs.filter((l) => l.msg === msg && l.at >= since);
  }

  leading(): boolean {
    const last = this.logs
      .filter((l) => l.msg === 'became the active replica (leader lease acquired)' || l.msg === 'stopped being the active replica' || l.msg === 'starting')
      .at(-1);
    return this.running() && last?.msg === 'became the active replica (leader lease acquired)';
  }
}

type HealthCheckFn = (req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;

function healthClient(port: number): grpc.Client & { Check: HealthCheckFn } {
  const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
  const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  return new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: HealthCheckFn };
}

/** grpc.health.v1 status of one service on a replica, or the error code name. */
export function healthOf(port: number, service = ''): Promise<string> {
  const client = healthClient(port);
  return new Promise<string>((res) =>
    client.Check({ service }, { deadline: Date.now() + 1000 }, (err, r) => {
      client.close();
      res(err ? grpc.status[err.code] : r!.status);
    }),
  );
}

/**
 * Forwards each new TCP connection to one of the upstreams that is SERVING,
 * round robin, as kube-proxy does for a Service's ready endpoints. Open
 * connections stay where they are until either side closes them.
 */
export class TcpFront {
  private readonly server: Server;
  private readonly ready = new Map<number, boolean>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  port = 0;

  constructor(private readonly upstreams: readonly number[]) {
    this.server = createServer((socket) => this.route(socket));
  }

  async start(): Promise<void> {
    await new Promise<void>((res) => this.server.listen(0, '127.0.0.1', res));
    this.port = (this.server.address() as { port: number }).port;
    const clients = new Map(this.upstreams.map((p) => [p, healthClient(p)]));
    const poll = (): void => {
      for (const [port, client] of clients) {
        client.Check({ service: '' }, { deadline: Date.now() + 500 }, (err, r) => this.ready.set(port, !err && r?.status === 'SERVING'));
      }
    };
    poll();
    this.timer = setInterval(poll, 100);
    this.stopClients = () => {
      for (const c of clients.values()) c.close();
    };
  }

  private stopClients: () => void = () => {};

  readyUpstreams(): number[] {
    return this.upstreams.filter((p) => this.ready.get(p));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopClients();
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  private route(socket: Socket): void {
    socket.pause();
    const candidates = this.readyUpstreams();
    const ordered = candidates.map((_, i) => candidates[(this.next + i) % candidates.length]!);
    this.next++;
    const tryNext = (): void => {
      const port = ordered.shift();
      if (port === undefined) {
        socket.destroy();
        return;
      }
      const upstream = connect(port, '127.0.0.1');
      // Refused (the replica just exited): the next ready one, as a retrying load balancer would.
      const failed = (): void => {
        upstream.destroy();
        tryNext();
      };
      upstream.once('error', failed);
      upstream.once('connect', () => {
        upstream.off('error', failed);
        this.pipe(socket, upstream);
      });
    };
    tryNext();
  }

  private pipe(client: Socket, upstream: Socket): void {
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }
}

/**
 * A TCP link that can be cut: `cut()` drops every open connection and
 * black-holes new ones (accepted, never answered), as a network partition
 * does; `heal()` forwards again.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private cutOff = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((socket) => {
      this.open.add(socket);
      socket.on('close', () => this.open.delete(socket));
      socket.on('error', () => socket.destroy());
      if (this.cutOff) return; // held, never forwarded
      const upstream = connect(this.target.port, this.target.host);
      this.open.add(upstream);
      upstream.on('close', () => {
        this.open.delete(upstream);
        socket.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      socket.on('close', () => upstream.destroy());
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((res) => this.server.listen(0, '127.0.0.1', res));
    this.port = (this.server.address() as { port: number }).port;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.open) s.destroy();
  }

  heal(): void {
    this.cutOff = false;
    // Held connections never reached the API server: drop them so clients retry.
    for (const s of this.open) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}

export interface CallRecord {
  readonly method: 'HealthCheck' | 'Deploy' | 'GetAvailable';
  readonly at: number;
  readonly ms: number;
  /** OK, a gRPC code name, or for Deploy the in-band error. */
  readonly outcome: string;
  readonly instanceId?: string;
}

/**
 * The control plane as iarnet's provider manager drives it, through the
 * front: HealthCheck every `healthEveryMs` with a 5 s deadline, a Deploy
 * every `deployEveryMs` (unique instance ids, a little cpu each), and, if
 * asked, GetAvailable every `availableEveryMs` (5 s deadline). `target` is a
 * local port or a HOST:PORT address (a Service).
 */
export class IarnetClient {
  readonly calls: CallRecord[] = [];
  private readonly client: ServiceClient;
  private timers: NodeJS.Timeout[] = [];
  private inFlight = new Set<Promise<void>>();
  private seq = 0;

  constructor(
    target: number | string,
    readonly providerId: string,
    private readonly options: { healthEveryMs?: number; deployEveryMs?: number; availableEveryMs?: number; cpu?: number; prefix?: string; image?: string } = {},
  ) {
    this.client = typeof target === 'number' ? makeClient(target) : makeClientAt(target);
  }

  start(): void {
    this.timers.push(setInterval(() => this.track(this.healthCheck()), this.options.healthEveryMs ?? 1000));
    if (this.options.deployEveryMs) this.timers.push(setInterval(() => this.track(this.deploy()), this.options.deployEveryMs));
    if (this.options.availableEveryMs) this.timers.push(setInterval(() => this.track(this.available()), this.options.availableEveryMs));
  }

  available(deadlineMs = 5000): Promise<void> {
    const at = Date.now();
    return new Promise((res) => {
      this.client.GetAvailable({ providerId: this.providerId }, { deadline: at + deadlineMs }, (err) => {
        this.record({ method: 'GetAvailable', at, ms: Date.now() - at, outcome: err ? `${grpc.status[err.code]}: ${err.details}` : 'OK' });
        res();
      });
    });
  }

  async stop(): Promise<void> {
    this.timers.forEach(clearInterval);
    this.timers = [];
    await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.client.close();
  }

  failures(method?: CallRecord['method']): CallRecord[] {
    return this.calls.filter((c) => c.outcome !== 'OK' && (!method || c.method === method));
  }

  count(method: CallRecord['method'], since = 0): number {
    return this.calls.filter((c) => c.method === method && c.at >= since).length;
  }

  healthCheck(deadlineMs = 5000): Promise<void> {
    const at = Date.now();
    return new Promise((res) => {
      this.client.HealthCheck({ providerId: this.providerId }, { deadline: at + deadlineMs }, (err) => {
        this.record({ method: 'HealthCheck', at, ms: Date.now() - at, outcome: err ? `${grpc.status[err.code]}: ${err.details}` : 'OK' });
        res();
      });
    });
  }

  deploy(instanceId = `${this.options.prefix ?? 'trickle'}-${this.seq++}`, deadlineMs = 10_000): Promise<void> {
    const at = Date.now();
    const request = {
      providerId: this.providerId,
      instanceId,
      image: this.options.image ?? 'busybox',
      resourceRequest: { cpu: this.options.cpu ?? 10, memory: 1 << 20, gpu: 0 },
    };
    return new Promise((res) => {
      this.client.Deploy(request, { deadline: at + deadlineMs }, (err, r) => {
        const outcome = err ? `${grpc.status[err.code]}: ${err.details}` : r!.error || 'OK';
        this.record({ method: 'Deploy', at, ms: Date.now() - at, outcome, instanceId });
        res();
      });
    });
  }

  private record(c: CallRecord): void {
    this.calls.push(c);
    observeCall(c.method, { providerId: this.providerId, ...(c.instanceId !== undefined ? { instanceId: c.instanceId } : {}) }, c.outcome);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}

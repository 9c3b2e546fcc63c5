/**
 * Runs the daemon in-process against the test cluster, with a real gRPC
 * client built from the proto files, and captures its JSON log lines.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { configSchema, type Config } from '../../src/config/schema.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { loadProto } from '../../src/adapters/grpc/proto.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import { kubeconfigPath } from './cluster.js';
import { observeCall } from './fault-figures.js';

export type LogLine = Record<string, unknown> & { msg?: string; level: number };

export interface TestDaemon {
  readonly daemon: Daemon;
  readonly client: ServiceClient;
  readonly logs: LogLine[];
  readonly config: Config;
  stop(): Promise<void>;
}

export type ConfigInput = Record<string, unknown>;

export function testConfig(namespace: string, overrides: ConfigInput = {}): Config {
  const base: Record<string, Record<string, unknown>> = {
    server: { host: '127.0.0.1', port: 0, shutdown_grace_seconds: 2 },
    kubernetes: { kubeconfig: kubeconfigPath(), namespace },
    resource: { cpu: 8000, memory: '8Gi', gpu: 4 },
    usage: { interval_seconds: 1 },
    prometheus: { port: 0 },
    log: { level: 'debug' },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    // resource is replaced whole: its keys depend on each other (mode: auto reads cpu/memory/gpu as caps).
    const nested = v && typeof v === 'object' && !Array.isArray(v) && k !== 'resource';
    merged[k] = nested ? { ...(base[k] ?? {}), ...v } : v;
  }
  return configSchema.parse(merged);
}

export function makeClient(port: number, creds = grpc.credentials.createInsecure()): ServiceClient {
  return makeClientAt(`127.0.0.1:${port}`, creds);
}

/** A client for a daemon at HOST:PORT (e.g. one running in the cluster, through its Service). */
export function makeClientAt(address: string, creds = grpc.credentials.createInsecure()): ServiceClient {
  const { grpcObject } = loadProto();
  return new grpcObject.provider.Service(address, creds);
}

export async function startTestDaemon(namespace: string, overrides: ConfigInput = {}): Promise<TestDaemon> {
  const config = testConfig(namespace, overrides);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const log = pino({ level: config.log.level }, sink);
  const daemon = await startDaemon(config, log);
  const client = makeClient(daemon.port);
  return {
    daemon,
    client,
    logs,
    config,
    async stop(): Promise<void> {
      client.close();
      await daemon.stop();
    },
  };
}

type Method = 'Connect' | 'Disconnect' | 'GetCapacity' | 'GetAvailable' | 'Deploy' | 'HealthCheck' | 'GetRealTimeUsage';

/** Calls a unary RPC and resolves with its response (rejects with the ServiceError). */
export function call<Res = Record<string, unknown>>(client: ServiceClient, method: Method, request: object): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, cb: (err: grpc.ServiceError | null, res: Res) => void) => void>)[method]!;
    fn.call(client, request, (err, res) => {
      const inBand = (res as { error?: unknown } | undefined)?.error;
      observeCall(method, request, err ? `${grpc.status[err.code]}: ${err.details}` : typeof inBand === 'string' && inBand ? inBand : 'OK');
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** The status of a failed call as "CODE: details", or "OK". */
export async function statusOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    const e = err as grpc.ServiceError;
    return `${grpc.status[e.code]}: ${e.details}`;
  }
}

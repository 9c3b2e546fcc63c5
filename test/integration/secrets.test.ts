/**
 * Issue 14 item 6: env var values, tokens and TLS keys never appear in the
 * daemon's logs, in its error answers or in its metrics. The daemon runs as
 * its own process at log level trace with mutual TLS and token auth; the test
 * drives every path that handles those values (successful, invalid,
 * conflicting, oversized and API-refused deploys, wrong and right tokens),
 * then searches everything the process wrote, every answer it gave and a
 * /metrics scrape for each secret.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProto } from '../../src/adapters/grpc/proto.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { call } from '../helpers/daemon.js';
import { freePort } from '../helpers/net.js';
import { ensureBuilt, spawnDaemon, type DaemonProcess } from '../helpers/process.js';

const hex = (n: number): string => randomBytes(n).toString('hex');
const SECRETS = {
  apiKey: `sk-live-${hex(16)}`,
  password: `P@ss-${hex(12)}`,
  awsKey: `AKIA${hex(8).toUpperCase()}`,
  dsn: `postgres://admin:${hex(10)}@db:5432/x`,
  unicode: `sécret-✓-${hex(8)}`,
};
const TOKEN = `tok-${hex(20)}`;
const WRONG_TOKEN = `${TOKEN.slice(0, -4)}beef`;
const MI = 2 ** 20;

/** The base64 body lines of a PEM file (what a leaked key would look like in a log). */
const pemLines = (pem: string): string[] => pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));

function bearer(token: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start: (metadata, listener, proceed) => {
        metadata.set('authorization', `Bearer ${token}`);
        proceed(metadata, listener);
      },
    });
}

describe('secrets stay out of logs, answers and metrics', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  let dir: string;
  let d: DaemonProcess;
  let metricsPort: number;
  const answers: string[] = [];
  const clients: ServiceClient[] = [];

  const client = (token: string): ServiceClient => {
    const creds = grpc.credentials.createSsl(readFileSync(pki.caCert), readFileSync(pki.clientKey), readFileSync(pki.clientCert));
    const c = new (loadProto().grpcObject.provider.Service)(`127.0.0.1:${d.port}`, creds, { interceptors: [bearer(token)] });
    clients.push(c);
    return c;
  };
  /** Records every answer, success or status, so answers are searched too. */
  const record = async (p: Promise<unknown>): Promise<string> => {
    try {
      const res = JSON.stringify(await p);
      answers.push(res);
      return res;
    } catch (err) {
      const e = err as grpc.ServiceError;
      answers.push(`${e.code} ${e.details} ${e.message}`);
      return `${grpc.status[e.code]}: ${e.details}`;
    }
  };

  beforeAll(async () => {
    ensureBuilt();
    ns = await createTestNamespace('secrets');
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'k8s-provider-secrets-'));
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    metricsPort = await freePort();
    d = await spawnDaemon({
      server: {
        host: '127.0.0.1',
        port: 0,
        tls: { cert_file: pki.serverCert, key_file: pki.serverKey, client_ca_file: pki.caCert },
        auth: { token_file: join(dir, 'token') },
      },
      kubernetes: { kubeconfig: kubeconfigPath(), namespace: ns.name },
      resource: { cpu: 2000, memory: '2Gi', gpu: 0 },
      usage: { interval_seconds: 1 },
      prometheus: { host: '127.0.0.1', port: metricsPort },
      log: { level: 'trace' },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await d?.stop();
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
    pki?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('never writes an env value, a token or a key anywhere', async () => {
    const good = client(TOKEN);
    const env = {
      COMPONENT_ID: 'c',
      API_KEY: SECRETS.apiKey,
      DB_PASSWORD: SECRETS.password,
      AWS_ACCESS_KEY_ID: SECRETS.awsKey,
      DSN: SECRETS.dsn,
      NOTE: SECRETS.unicode,
    };
    const deploy = (instanceId: string, over: object = {}) =>
      record(call(good, 'Deploy', { providerId: 'cp-s', instanceId, image: 'busybox', resourceRequest: { cpu: 100, memory: 32 * MI }, envVars: env, ...over }));

    expect(await record(call(client(WRONG_TOKEN), 'Connect', { providerId: 'cp-s' }))).toBe('UNAUTHENTICATED: invalid bearer token');
    expect(await record(call(client(WRONG_TOKEN), 'Deploy', { providerId: 'cp-s', instanceId: 'x', image: 'busybox', envVars: env }))).toMatch(
      /^UNAUTHENTICATED/,
    );
    expect(await record(call(good, 'Connect', { providerId: 'cp-s' }))).toContain('"success":true');
    expect(await deploy('ok-pod')).toContain('"error":""');
    expect(await deploy('ok-job', { workload: { kind: 'JOB' } })).toContain('"error":""');
    // Same id, other values: the conflict answer must not quote either set.
    expect(await deploy('ok-pod', { envVars: { ...env, API_KEY: `${SECRETS.apiKey}-2` } })).toContain('ALREADY_EXISTS');
    // Invalid next to the secrets: the answer names the bad key only.
    expect(await deploy('bad-env', { envVars: { ...env, '1BAD': SECRETS.password } })).toContain('INVALID_ARGUMENT: env_vars name \\"1BAD\\"');
    expect(await deploy('too-big', { resourceRequest: { cpu: 100_000, memory: MI } })).toContain('RESOURCE_EXHAUSTED');
    // Refused by the API server itself (422): its message comes back, and must not carry the env.
    expect(
      await deploy('dup-ports', {
        workload: {
          ports: [
            { name: 'http', containerPort: 80 },
            { name: 'http', containerPort: 81 },
          ],
        },
      }),
    ).toContain('INVALID_ARGUMENT');
    // A secret-looking value over the API server's size limit.
    expect(await deploy('huge', { envVars: { ...env, BLOB: `${SECRETS.apiKey}${'x'.repeat(3 * MI)}` } })).toMatch(/"error":"[A-Z_]+: /);
    await record(call(good, 'GetRealTimeUsage', { providerId: 'cp-s', includeInstances: true }));
    await record(call(good, 'HealthCheck', { providerId: 'cp-s' }));

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('grpc_server_handled_total');
    expect(metrics).toMatch(/grpc_code="UNAUTHENTICATED"/);

    // The log is written asynchronously (up to 250 ms late): search it once the
    // line of the last call is out, so the searches have the whole run to search.
    await waitFor('the last call logged', () => d.logs().some((l) => l.msg === 'rpc' && l.method === 'HealthCheck'), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const haystacks = { output: d.output(), answers: answers.join('\n'), metrics };
    const needles: Record<string, string> = {
      ...SECRETS,
      token: TOKEN,
      wrongToken: WRONG_TOKEN,
      ...Object.fromEntries(pemLines(readFileSync(pki.serverKey, 'utf8')).map((l, i) => [`serverKey#${i}`, l])),
      ...Object.fromEntries(pemLines(readFileSync(pki.clientKey, 'utf8')).map((l, i) => [`clientKey#${i}`, l])),
    };
    const leaks = Object.entries(haystacks).flatMap(([where, text]) =>
      Object.entries(needles)
        .filter(([, secret]) => text.includes(secret))
        .map(([what]) => `${what} in ${where}`),
    );
    expect(leaks).toEqual([]);
    // The searches had something to search: the run logged a lot, including the keys of the env.
    expect(d.logs().length).toBeGreaterThan(20);
    expect(d.output()).toContain('API_KEY');
    expect(d.exitCode()).toBeNull();
  });
});

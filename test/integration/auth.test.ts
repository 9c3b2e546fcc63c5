/**
 * Issue 14 item 5: server.auth on a real daemon against the test cluster.
 * Every method of every service declared under proto/ (found by walking the
 * files, so a service added later is covered by this test without touching
 * it) answers UNAUTHENTICATED without a valid token, and a refused call
 * changes nothing: no session, no pod, no Job (checked by listing). Tokens
 * rotate without a restart; the CLI sends one from --token-file.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProto } from '../../src/adapters/grpc/proto.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import { HEALTH_SERVICE } from '../../src/adapters/grpc/auth.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { everyMethod, rawCall } from '../helpers/methods.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';

const OLD = 'k8sp-old-7f3a9c1e5b2d4f60a8e1';
const NEW = 'k8sp-new-0d9e8c7b6a5f4e3d2c1b';
const WRONG = 'k8sp-bad-0000000000000000ffff';
const MI = 2 ** 20;

/** A client interceptor that sends `authorization: <value>` on every call. */
function sending(value: string): grpc.Interceptor {
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start: (metadata, listener, proceed) => {
        metadata.set('authorization', value);
        proceed(metadata, listener);
      },
    });
}

describe('server.auth', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let dir: string;
  let tokenPath: string;
  const kc = makeKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const clients: grpc.Client[] = [];
  const client = (authorization?: string): ServiceClient => {
    const made = new (loadProto().grpcObject.provider.Service)(
      `127.0.0.1:${d.daemon.port}`,
      grpc.credentials.createInsecure(),
      authorization ? { interceptors: [sending(authorization)] } : {},
    );
    clients.push(made);
    return made;
  };
  const workloads = async (): Promise<string[]> => {
    const pods = await core.listNamespacedPod({ namespace: ns.name });
    const jobs = await batch.listNamespacedJob({ namespace: ns.name });
    return [...pods.items.map((p) => `pod/${p.metadata!.name}`), ...jobs.items.map((j) => `job/${j.metadata!.name}`)].sort();
  };
  const deployReq = (instanceId: string, kind?: 'JOB') => ({
    providerId: 'cp-auth',
    instanceId,
    image: 'busybox',
    resourceRequest: { cpu: 100, memory: 64 * MI, gpu: 0 },
    envVars: { COMPONENT_ID: instanceId },
    ...(kind ? { workload: { kind } } : {}),
  });

  beforeAll(async () => {
    buildCli();
    dir = mkdtempSync(join(tmpdir(), 'k8s-provider-auth-it-'));
    tokenPath = join(dir, 'token');
    writeFileSync(tokenPath, `${OLD}\n`);
    ns = await createTestNamespace('auth');
    d = await startTestDaemon(ns.name, { server: { auth: { token_file: tokenPath } } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await d?.stop();
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every method of every service without a valid token, except health (open by default)', async () => {
    const methods = everyMethod();
    expect(methods.map((m) => m.path)).toEqual(
      expect.arrayContaining(['/provider.Service/Deploy', '/provider.Service/Connect', '/provider.Service/HealthCheck']),
    );
    for (const authorization of [undefined, `Bearer ${WRONG}`, `Bearer ${OLD}x`, OLD, `Basic ${OLD}`]) {
      const c = client(authorization);
      for (const m of methods) expect(`${m.path} ${await rawCall(c, m)}`, String(authorization)).toBe(`${m.path} UNAUTHENTICATED`);
      // Reflection is closed unless server.auth.unauthenticated_reflection is set.
      const reflection = { path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', requestStream: true, responseStream: true };
      expect(await rawCall(c, reflection)).toBe('UNAUTHENTICATED');
      expect(await rawCall(c, { path: `/${HEALTH_SERVICE}/Check`, requestStream: false, responseStream: false })).toBe('OK');
    }
    const refused = d.logs.filter((l) => l.msg === 'rpc refused');
    expect(refused.length).toBeGreaterThanOrEqual(methods.length * 5);
    expect(JSON.stringify(d.logs)).not.toContain(WRONG);
    expect(JSON.stringify(d.logs)).not.toContain(OLD);
  });

  it('a refused Connect takes no session and a refused Deploy creates nothing (listed in the cluster)', async () => {
    const wrong = client(`Bearer ${WRONG}`);
    expect(await statusOf(call(wrong, 'Connect', { providerId: 'intruder' }))).toBe('UNAUTHENTICATED: invalid bearer token');
    const right = client(`Bearer ${OLD}`);
    // The intruder's Connect took no session: another id connects.
    expect(await call(right, 'Connect', { providerId: 'cp-auth' })).toMatchObject({ success: true });
    for (const req of [deployReq('nope-pod'), deployReq('nope-job', 'JOB')]) {
      expect(await statusOf(call(wrong, 'Deploy', req))).toBe('UNAUTHENTICATED: invalid bearer token');
      expect(await statusOf(call(client(), 'Deploy', req))).toMatch(/^UNAUTHENTICATED: missing/);
    }
    expect(await workloads()).toEqual([]);
    expect(await call(right, 'GetCapacity', { providerId: 'cp-auth' })).toMatchObject({ capacity: { used: { cpu: '0' } } });
    // The same request with the token goes through: the refusals were about the token only.
    expect(await call(right, 'Deploy', deployReq('yes-pod'))).toMatchObject({ error: '', created: true });
    expect(await workloads()).toEqual(['pod/yes-pod']);
  });

  it('rotates without a restart: both tokens during the change, only the new one after', async () => {
    const old = client(`Bearer ${OLD}`);
    const fresh = client(`Bearer ${NEW}`);
    writeFileSync(`${tokenPath}.tmp`, `# rotating\n${OLD}\n${NEW}\n`);
    renameSync(`${tokenPath}.tmp`, tokenPath);
    await waitFor('the new token to be accepted', async () => (await statusOf(call(fresh, 'GetCapacity', { providerId: 'cp-auth' }))) === 'OK', {
      timeoutMs: 10_000,
    });
    expect(await statusOf(call(old, 'GetCapacity', { providerId: 'cp-auth' }))).toBe('OK');
    writeFileSync(`${tokenPath}.tmp`, `${NEW}\n`);
    renameSync(`${tokenPath}.tmp`, tokenPath);
    await waitFor(
      'the old token to be refused',
      async () => (await statusOf(call(old, 'GetCapacity', { providerId: 'cp-auth' }))).startsWith('UNAUTHENTICATED'),
      { timeoutMs: 10_000 },
    );
    expect(await statusOf(call(fresh, 'HealthCheck', { providerId: 'cp-auth' }))).toBe('OK');
    expect(d.logs.filter((l) => l.msg === 'token file reloaded').length).toBeGreaterThanOrEqual(2);
  });

  it('the CLI sends the token from --token-file', async () => {
    const addr = ['--addr', `127.0.0.1:${d.daemon.port}`];
    // Whatever the tests before did, the daemon accepts NEW from here on.
    writeFileSync(`${tokenPath}.tmp`, `${NEW}\n`);
    renameSync(`${tokenPath}.tmp`, tokenPath);
    const fresh = client(`Bearer ${NEW}`);
    await waitFor(
      'NEW to be accepted',
      async () => (await statusOf(call(fresh, 'GetCapacity', { providerId: '' }))) !== 'UNAUTHENTICATED: invalid bearer token',
      { timeoutMs: 10_000 },
    );
    const without = await runCli([...addr, 'capacity']);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('UNAUTHENTICATED');
    const file = join(dir, 'cli-token');
    writeFileSync(file, `# for the operator\n${NEW}\n`);
    const withToken = await runCli([...addr, 'capacity', '-p', 'cp-auth', '--json', '--token-file', file]);
    expect([withToken.code, withToken.stderr]).toEqual([0, '']);
    expect(JSON.parse(withToken.stdout)).toMatchObject({ total: { cpu: 8000 } });
    const missing = await runCli([...addr, 'capacity', '--token-file', join(dir, 'absent')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--token-file');
  });

  it('refuses to start without a usable token file, before touching the cluster', async () => {
    const missing = join(dir, 'no-such-token');
    await expect(startTestDaemon(ns.name, { server: { auth: { token_file: missing } } })).rejects.toThrow(`server.auth.token_file ${missing}: file not found`);
    writeFileSync(join(dir, 'weak'), 'short\n');
    await expect(startTestDaemon(ns.name, { server: { auth: { token_file: join(dir, 'weak') } } })).rejects.toThrow(
      'line 1: a token must be at least 16 characters',
    );
  });

  it('opens reflection, and closes health, only when configured', async () => {
    const other = await startTestDaemon(ns.name, {
      server: { auth: { token_file: tokenPath, unauthenticated_health: false, unauthenticated_reflection: true } },
      kubernetes: { label_selector: 'auth-test=second' },
    });
    try {
      const c = new grpc.Client(`127.0.0.1:${other.daemon.port}`, grpc.credentials.createInsecure());
      clients.push(c);
      expect(await rawCall(c, { path: `/${HEALTH_SERVICE}/Check`, requestStream: false, responseStream: false })).toBe('UNAUTHENTICATED');
      // A real reflection request (list services) gets an answer without a token.
      const listed = await new Promise<string>((resolveList) => {
        const call = c.makeBidiStreamRequest(
          '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
          (b: Buffer) => b,
          (b: Buffer) => b,
        );
        let got = '';
        call.on('data', (b: Buffer) => (got += b.toString('latin1')));
        call.on('error', () => undefined);
        call.on('status', (s: grpc.StatusObject) => resolveList(`${grpc.status[s.code]} ${got}`));
        // ServerReflectionRequest { list_services (field 7): "" }
        call.write(Buffer.from([0x3a, 0x00]));
        call.end();
      });
      expect(listed).toMatch(/^OK /);
      expect(listed).toContain('provider.Service');
    } finally {
      await other.stop();
    }
  });
});

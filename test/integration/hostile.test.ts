/**
 * Issue 14 item 4 against a real daemon process on the test cluster: a few
 * hundred generated hostile Deploys (the arbitraries of the unit property
 * tests), oversized messages past server.max_receive_message_bytes, framed
 * gRPC calls whose bodies are random bytes, and random bytes on the raw TCP
 * port. Each Deploy ends as a success whose workload is in the cluster, or as
 * a clean INVALID_ARGUMENT / RESOURCE_EXHAUSTED; the process stays up; and
 * what was refused left nothing behind (checked by listing the namespace).
 */
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProto } from '../../src/adapters/grpc/proto.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import type { DeployRequest } from '../../src/adapters/grpc/generated/provider/DeployRequest.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import { createTestNamespace, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { deployRequest } from '../helpers/hostile.js';
import { everyMethod, rawCall } from '../helpers/methods.js';
import { ensureBuilt, spawnDaemon, type DaemonProcess } from '../helpers/process.js';

const PROVIDER = 'cp-hostile';
const MAX_RECEIVE = 256 * 1024;
const GENERATED = 300;
const CONCURRENCY = 8;
const SEED = Number(process.env.HOSTILE_SEED ?? 20261126);

type Answer = { kind: 'ok'; res: DeployResponse__Output } | { kind: 'status'; code: string; details: string };

function deployCall(client: ServiceClient, req: DeployRequest): Promise<Answer> {
  return new Promise((resolve) => {
    client.Deploy(req, { deadline: Date.now() + 30_000 }, (err, res) =>
      resolve(err ? { kind: 'status', code: grpc.status[err.code], details: err.details } : { kind: 'ok', res: res! }),
    );
  });
}

/**
 * Jobs are made to stay: KWOK completes Job pods at once and the janitor or
 * the TTL controller would then remove them before the listing. Everything
 * else in the request stays as generated.
 */
function lasting(req: DeployRequest): DeployRequest {
  const w = req.workload;
  if (w?.kind !== 'JOB') return req;
  return {
    ...req,
    workload: { ...w, cleanupPolicy: 'ON_FAILURE', timeoutSeconds: '3600', annotations: { ...w.annotations, 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' } },
  };
}

describe('hostile input against a daemon process', () => {
  let ns: TestNamespace;
  let d: DaemonProcess;
  let client: ServiceClient;
  const kc = makeKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const created = new Map<string, { name: string; kind: string }>();
  const tally: Record<string, number> = {};
  const count = (key: string): void => {
    tally[key] = (tally[key] ?? 0) + 1;
  };

  beforeAll(async () => {
    ensureBuilt();
    ns = await createTestNamespace('hostile');
    d = await spawnDaemon({
      server: { host: '127.0.0.1', port: 0, max_receive_message_bytes: MAX_RECEIVE },
      kubernetes: { kubeconfig: kubeconfigPath(), namespace: ns.name },
      // Room for everything valid: refusals then come from validation, not from capacity.
      resource: { cpu: 100_000_000, memory: '1000Ti', gpu: 1000 },
      limits: { max_instances: 1000 },
      prometheus: { port: 0 },
      log: { level: 'info' },
    });
    client = new (loadProto().grpcObject.provider.Service)(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure(), {
      // The client must be able to send what the server refuses.
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    });
    await new Promise<void>((resolve, reject) =>
      client.Connect({ providerId: PROVIDER }, (err, res) => (err || !res?.success ? reject(err ?? new Error(res?.error)) : resolve())),
    );
  });
  afterAll(async () => {
    client?.close();
    await d?.stop();
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
  });

  async function listed(): Promise<string[]> {
    const pods = await core.listNamespacedPod({ namespace: ns.name });
    const jobs = await batch.listNamespacedJob({ namespace: ns.name });
    return [
      // Pods a Job controller made belong to their Job, not to a Deploy.
      ...pods.items.filter((p) => !p.metadata?.ownerReferences?.some((o) => o.kind === 'Job')).map((p) => `Pod/${p.metadata!.name}`),
      ...jobs.items.map((j) => `Job/${j.metadata!.name}`),
    ].sort();
  }

  it(`${GENERATED} generated Deploys: each a success in the cluster or a clean refusal that left nothing`, async () => {
    // Distinct ids only: the same id with another spec is ALREADY_EXISTS, a different (and tested) story.
    const seen = new Set<string>();
    const requests = fc
      .sample(deployRequest(PROVIDER, { maxEnvKeys: 20 }), { numRuns: GENERATED * 2, seed: SEED })
      .map((r) => lasting({ ...r, providerId: PROVIDER }))
      .filter((r) => !seen.has(r.instanceId!) && seen.add(r.instanceId!))
      .slice(0, GENERATED);
    expect(requests).toHaveLength(GENERATED);

    for (let i = 0; i < requests.length; i += CONCURRENCY) {
      const batchOf = requests.slice(i, i + CONCURRENCY);
      const answers = await Promise.all(batchOf.map((r) => deployCall(client, r)));
      answers.forEach((a, j) => {
        const req = batchOf[j]!;
        if (a.kind === 'status') {
          count(`status ${a.code}`);
          throw new Error(`Deploy ${JSON.stringify(req.instanceId)} failed with a status: ${a.code} ${a.details}`);
        }
        const prefix = a.res.error === '' ? 'OK' : a.res.error.split(':')[0]!;
        count(prefix);
        expect(['OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'], `${JSON.stringify(req.instanceId)}: ${a.res.error.slice(0, 300)}`).toContain(prefix);
        if (prefix === 'OK') created.set(req.instanceId!, { name: a.res.workloadName, kind: a.res.workloadKind === 'JOB' ? 'Job' : 'Pod' });
      });
    }
    console.log(`hostile deploys (seed ${SEED}): ${JSON.stringify(tally)}`);
    expect(created.size).toBeGreaterThan(10);
    expect(tally.INVALID_ARGUMENT ?? 0).toBeGreaterThan(10);

    // Exactly the successes are in the cluster: every one of them, and nothing a refusal made.
    const expected = [...created.values()].map((w) => `${w.kind}/${w.name}`).sort();
    expect(await listed()).toEqual(expected);
    // Each success is the instance it claims to be.
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'iarnet.managed=true' });
    const jobs = await batch.listNamespacedJob({ namespace: ns.name });
    const ids = new Set([...pods.items, ...jobs.items].map((o) => o.metadata?.annotations?.['iarnet.instance_id']));
    for (const id of created.keys()) expect(ids.has(id), JSON.stringify(id)).toBe(true);
    expect(d.exitCode()).toBeNull();
  }, 600_000);

  it('messages past server.max_receive_message_bytes get RESOURCE_EXHAUSTED and create nothing', async () => {
    const before = await listed();
    const answers = await Promise.all(
      [MAX_RECEIVE + 1, MAX_RECEIVE * 2, 4 * 1024 * 1024].map((size, i) =>
        deployCall(client, {
          providerId: PROVIDER,
          instanceId: `oversized-${i}`,
          image: 'busybox',
          resourceRequest: { cpu: '100', memory: '1048576', gpu: '0' },
          envVars: { BLOB: 'x'.repeat(size) },
        }),
      ),
    );
    for (const a of answers) expect(a).toMatchObject({ kind: 'status', code: 'RESOURCE_EXHAUSTED' });
    expect(await listed()).toEqual(before);
    expect(d.exitCode()).toBeNull();
  });

  it('framed calls with random bodies get a clean answer: malformed bytes are INVALID_ARGUMENT, not INTERNAL', async () => {
    const before = await listed();
    const raw = new grpc.Client(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
    const decode = loadProto().packageDefinition['provider.Service'] as Record<string, grpc.MethodDefinition<unknown, DeployResponse__Output>>;
    const answers: string[] = [];
    try {
      // Seeded like the rest, so the figures repeat and a failure can be replayed.
      for (const bytes of fc.sample(fc.uint8Array({ minLength: 1, maxLength: 1024 }), { numRuns: 100, seed: SEED })) {
        const body = Buffer.from(bytes);
        answers.push(
          await new Promise<string>((resolve) =>
            raw.makeUnaryRequest(
              '/provider.Service/Deploy',
              (b: Buffer) => b,
              (b: Buffer) => b,
              body,
              (err, res) => {
                if (err) return resolve(`status ${grpc.status[err.code]}`);
                const error = decode.Deploy!.responseDeserialize(res as Buffer).error;
                return resolve(error === '' ? 'OK' : error.split(':')[0]!);
              },
            ),
          ),
        );
      }
    } finally {
      raw.close();
    }
    const kinds = [...new Set(answers)].sort();
    console.log(`random-body Deploys: ${JSON.stringify(Object.fromEntries(kinds.map((k) => [k, answers.filter((a) => a === k).length])))}`);
    // PERMISSION_DENIED: the bytes decoded, and their provider_id is not the session's (checked first, as the contract says).
    for (const k of kinds) expect(['INVALID_ARGUMENT', 'PERMISSION_DENIED']).toContain(k);
    expect(kinds).toContain('INVALID_ARGUMENT');
    expect(await listed()).toEqual(before);
  });

  it('every method of every service answers random bodies cleanly, and the session survives', async () => {
    const raw = new grpc.Client(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
    const answers = new Map<string, Set<string>>();
    try {
      const bodies = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 512 }), { numRuns: 30, seed: SEED + 1 });
      for (const m of everyMethod()) {
        const seen = new Set<string>();
        for (const b of bodies) seen.add(await rawCall(raw, m, Buffer.from(b)));
        answers.set(m.path, seen);
      }
    } finally {
      raw.close();
    }
    console.log(`random bodies per method: ${JSON.stringify(Object.fromEntries([...answers].map(([p, s]) => [p, [...s].sort()])))}`);
    // A caller's garbage is the caller's fault: never INTERNAL or UNKNOWN, never a crash.
    const clean = new Set(['OK', 'INVALID_ARGUMENT', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'NOT_FOUND', 'RESOURCE_EXHAUSTED']);
    for (const [path, seen] of answers) for (const code of seen) expect(clean.has(code), `${path} ${code}`).toBe(true);
    // Deploy and Connect answer in-band (status OK); the others show the malformed bodies as INVALID_ARGUMENT.
    expect(answers.get('/provider.Service/GetCapacity')).toContain('INVALID_ARGUMENT');
    expect(d.exitCode()).toBeNull();
    // Garbage Connects and Disconnects took nothing from the session holder.
    const health = await new Promise((resolve, reject) => client.HealthCheck({ providerId: PROVIDER }, (err, res) => (err ? reject(err) : resolve(res))));
    expect(health).toMatchObject({ capacity: { total: { cpu: '100000000' } } });
  });

  it('random bytes on the raw TCP port: connections are dropped, the process stays up and keeps serving', async () => {
    const junk = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((a) => Buffer.from(a)),
        // A valid HTTP/2 preface, then garbage frames.
        fc.uint8Array({ minLength: 1, maxLength: 1024 }).map((a) => Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from(a)])),
        fc.constantFrom(
          Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
          Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'),
          Buffer.alloc(70_000, 0xff),
        ),
      ),
      { numRuns: 60, seed: SEED },
    );
    for (const bytes of junk) {
      await new Promise<void>((resolve) => {
        const socket = connect(d.port, '127.0.0.1', () => socket.end(bytes));
        socket.on('data', () => undefined);
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.setTimeout(5_000, () => socket.destroy());
      });
    }
    expect(d.exitCode()).toBeNull();
    const capacity = await new Promise((resolve, reject) => client.GetCapacity({ providerId: PROVIDER }, (err, res) => (err ? reject(err) : resolve(res))));
    expect(capacity).toMatchObject({ capacity: { total: { cpu: '100000000' } } });
    // Nothing the junk did reached the log as an error of ours.
    expect(d.logs().filter((l) => (l.level as number) >= 50)).toEqual([]);
    await waitFor('the listing to settle', async () => (await listed()).length === created.size);
  });
});

/**
 * Issue 14, item 1: crash consistency. The daemon runs as its own process and
 * is SIGKILLed in the middle of 50 concurrent Deploys, of 20 concurrent
 * Undeploys, and of the janitor's cleanup of finished Jobs. The client then
 * retries every call with the same instance id, as iarnet does. Afterwards the
 * books must equal what the API server shows (computed here, not by the
 * daemon), every instance must exist exactly once, and nothing may be left
 * behind: no orphan pods, no workload Pending for ever, no Undeploy unfinished.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import {
  clusterState,
  duplicates,
  instanceOf,
  jobFinished,
  once,
  orphans,
  untilAnswered,
  type Answer,
  type ClusterState,
  type Held,
} from '../helpers/books.js';
import { ApiProxy } from '../helpers/api-proxy.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { createTestNamespace, isLocalCluster, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { makeClient } from '../helpers/daemon.js';
import { FaultTally } from '../helpers/fault-figures.js';
import { instancesClient } from '../helpers/instances.js';
import { MAIN, ReplicaProcess } from '../helpers/replicas.js';

const root = resolve(import.meta.dirname, '..', '..');
const CAPACITY = { cpu: 4000, memory: 4 * 2 ** 30 };
const LONG_RUNNING = { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };

function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

beforeAll(() => {
  if (!existsSync(MAIN) || statSync(MAIN).mtimeMs < newest(join(root, 'src'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
});

/**
 * The default leader-election timing: the restarted process has the same
 * identity and takes its own Lease back at once, and a 10 s renew deadline
 * keeps a busy machine from costing the only replica its leadership midway.
 */
function daemonConfig(namespace: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kubernetes: { kubeconfig: kubeconfigPath(), namespace },
    resource: { cpu: CAPACITY.cpu, memory: CAPACITY.memory, gpu: 0 },
    prometheus: { port: 0 },
    usage: { interval_seconds: 5 },
    // These clients send no HealthCheck (iarnet's every 30 s would keep the session): on a slow machine a run outlasts the 90 s default.
    session: { health_timeout_seconds: 3600 },
    ...extra,
  };
}

/** A Deploy as iarnet sends it; odd instances are Jobs. Sizes differ so a miscounted instance shows in the sums. */
function deployRequest(instanceId: string, i: number, workload: Record<string, unknown> = {}): Record<string, unknown> {
  const job = i % 2 === 1;
  return {
    providerId: 'cp',
    instanceId,
    image: 'busybox',
    resourceRequest: { cpu: 20 + i, memory: (16 + i) * 2 ** 20, gpu: 0 },
    envVars: { COMPONENT_ID: instanceId },
    workload: { kind: job ? 'JOB' : 'POD', annotations: LONG_RUNNING, ...workload },
  };
}

interface Books {
  total: Held;
  used: Held;
  available: Held;
}

async function booksOf(client: ServiceClient): Promise<Books> {
  const [capacity, available] = await Promise.all([once(client, 'GetCapacity', { providerId: 'cp' }), once(client, 'GetAvailable', { providerId: 'cp' })]);
  if (capacity.outcome !== 'OK' || available.outcome !== 'OK') throw new Error(`books: ${capacity.outcome} / ${available.outcome}`);
  const info = (x: unknown): Held => {
    const r = x as { cpu: string | number; memory: string | number };
    return { cpu: Number(r.cpu), memory: Number(r.memory) };
  };
  const c = capacity.response?.capacity as Record<string, unknown>;
  const fromAvailable = info(available.response?.available);
  return { total: info(c.total), used: info(c.used), available: fromAvailable };
}

/**
 * Waits until every managed pod runs (nothing Pending for ever, every Job has
 * its pod), then checks the daemon's books against the cluster's: GetAvailable
 * equals capacity minus what the pods hold, and GetCapacity agrees.
 */
async function expectExactBooks(client: ServiceClient, namespace: string): Promise<{ state: ClusterState; books: Books }> {
  const settled = await waitFor(
    'every managed pod to run and the books to match the cluster',
    async () => {
      const state = await clusterState(namespace);
      const pending = state.pods.filter((p) => p.status?.phase === 'Pending' || p.metadata?.deletionTimestamp);
      const jobsWithoutPod = state.jobs.filter((j) => !jobFinished(j) && !state.pods.some((p) => p.metadata?.ownerReferences?.[0]?.name === j.metadata?.name));
      if (pending.length > 0 || jobsWithoutPod.length > 0) return false;
      const books = await booksOf(client);
      const expected = { cpu: CAPACITY.cpu - state.held.cpu, memory: CAPACITY.memory - state.held.memory };
      return books.available.cpu === expected.cpu && books.available.memory === expected.memory ? { state, books } : false;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  ).catch(async (err: unknown) => {
    const state = await clusterState(namespace);
    const books = await booksOf(client).catch((e: unknown) => (e as Error).message);
    throw new Error(`${(err as Error).message}\ncluster holds ${JSON.stringify(state.held)}; daemon books ${JSON.stringify(books)}`);
  });
  const { state, books } = settled;
  expect(books.total).toEqual(CAPACITY);
  expect(books.used).toEqual(state.held);
  expect(books.available).toEqual({ cpu: CAPACITY.cpu - state.held.cpu, memory: CAPACITY.memory - state.held.memory });
  return settled;
}

/**
 * Fires the calls at once and SIGKILLs the daemon as soon as `killAfter` of
 * them succeeded (or, given a function, as soon as it returns true; checked
 * every 5 ms), or after `atMostMs` on a machine so slow that neither happened.
 */
async function killDuring(
  daemon: ReplicaProcess,
  calls: Array<() => Promise<Answer>>,
  killAfter: number | (() => boolean),
  atMostMs = 3000,
): Promise<{ outcomes: string[]; answers: Answer[] }> {
  let ok = 0;
  const kill = (): void => void daemon.kill('SIGKILL');
  const timer = setTimeout(kill, atMostMs);
  const watcher =
    typeof killAfter === 'function'
      ? setInterval(() => {
          if (!killAfter()) return;
          clearInterval(watcher);
          kill();
        }, 5)
      : undefined;
  const answers = await Promise.all(
    calls.map((c) =>
      c().then((a) => {
        if (a.outcome === 'OK' && ++ok === killAfter) kill();
        return a;
      }),
    ),
  );
  clearTimeout(timer);
  clearInterval(watcher);
  expect(await daemon.kill('SIGKILL')).toBeNull(); // waits for the exit: killed, no exit code
  return { outcomes: answers.map((a) => a.outcome), answers };
}

/**
 * The workload object of every instance id in the cluster (`Kind/name uid`),
 * a second after a kill. On a loaded machine a create the dead process sent
 * can still land after that: what is listed here existed, what is not may
 * yet appear, so the checks below never count on it being absent.
 */
async function existing(namespace: string): Promise<Map<string, string>> {
  await new Promise((r) => setTimeout(r, 1000));
  const state = await clusterState(namespace);
  expect(duplicates(state)).toEqual([]);
  return new Map([...state.workloads].map(([id, objects]) => [id, objects[0] ?? '']));
}

/**
 * A namespace and a daemon process with a session, for one describe block;
 * killed and removed after it. Its fault-figures row (calls, SIGKILLs, peak
 * RSS) is written then; the test settles the instance figures.
 */
function connectedDaemon(
  name: string,
  scenario: string,
  extra: Record<string, unknown> | ((namespace: string) => Record<string, unknown>) = {},
): { ns: TestNamespace; daemon: ReplicaProcess; client: ServiceClient; tally: FaultTally } {
  // No failure is a final answer here: every call a kill cut is retried until it succeeds.
  const t = { tally: new FaultTally(scenario, import.meta.filename) } as {
    ns: TestNamespace;
    daemon: ReplicaProcess;
    client: ServiceClient;
    tally: FaultTally;
  };
  beforeAll(async () => {
    t.tally.listen();
    t.ns = await createTestNamespace(name);
    t.daemon = await ReplicaProcess.create(`${name}-0`, daemonConfig(t.ns.name, typeof extra === 'function' ? extra(t.ns.name) : extra));
    await t.daemon.start();
    t.client = makeClient(t.daemon.port);
    expect((await untilAnswered(t.client, 'Connect', { providerId: 'cp' })).outcome).toBe('OK');
  });
  afterAll(async () => {
    t.client?.close();
    // The kill that ends the scenario is cleanup, not a fault: count the ones the test made first.
    t.tally.fault('SIGKILL', t.daemon?.signals.SIGKILL ?? 0);
    if (t.daemon?.running()) await t.daemon.kill('SIGKILL');
    if (t.daemon) t.tally.rss(t.daemon.peakRss());
    t.tally.write();
    await t.ns?.cleanup();
  });
  return t;
}

describe('SIGKILL during 50 concurrent Deploys (Pods and Jobs)', () => {
  const t = connectedDaemon('crash-deploy', 'SIGKILL during 50 concurrent Deploys, again during their retries, once more idle');

  it('the retries create only what is missing; each instance exists once; the books equal the pods', async () => {
    const { ns, daemon, client } = t;
    const ids = Array.from({ length: 50 }, (_, i) => `crash-${String(i).padStart(2, '0')}`);
    const requests = new Map(ids.map((id, i) => [id, deployRequest(id, i)]));
    const { outcomes } = await killDuring(
      daemon,
      ids.map((id) => () => once(client, 'Deploy', requests.get(id)!)),
      1,
    );
    const answered = ids.filter((_, i) => outcomes[i] === 'OK');
    const lost = ids.filter((_, i) => outcomes[i] !== 'OK');
    // The kill must have cut deploys in flight, or this test proves nothing.
    expect(lost.length).toBeGreaterThan(0);
    for (const o of outcomes) expect(o).toMatch(/^(OK|UNAVAILABLE|CANCELLED|INTERNAL)/);
    // What landed while the answers were lost.
    const existed = await existing(ns.name);
    for (const id of answered) expect(existed.has(id), `${id} was answered OK before the kill`).toBe(true);

    // iarnet retries every deploy (the answered ones too: same spec, so they succeed). A second kill cuts the retries.
    await daemon.start();
    const second = await killDuring(
      daemon,
      ids.map((id) => () => once(client, 'Deploy', requests.get(id)!)),
      Math.min(ids.length - 1, existed.size + 3),
    );
    for (const o of second.outcomes) expect(o).toMatch(/^(OK|UNAVAILABLE|CANCELLED|INTERNAL)/);
    const createdBySecond = ids.filter((_, i) => second.answers[i]?.response?.created === true);
    const existedAfterSecond = await existing(ns.name);

    await daemon.start();
    const retries = await Promise.all(ids.map((id) => untilAnswered(client, 'Deploy', requests.get(id)!)));
    for (const [i, r] of retries.entries()) expect(r.outcome, ids[i]).toBe('OK');
    const created = ids.filter((_, i) => retries[i]?.response?.created === true);
    // A retry creates only what is missing: never an instance that already existed, never one twice.
    for (const id of createdBySecond) expect(existed.has(id), `${id} created again by the first retries`).toBe(false);
    for (const id of created) {
      expect(existedAfterSecond.has(id), `${id} created again by the last retries`).toBe(false);
      expect(createdBySecond, `${id} created by two retries`).not.toContain(id);
    }
    console.log(
      `deploy crash: ${answered.length} answered before the first kill, ${lost.length} cut, ${existed.size - answered.length} of those had landed a second later; ` +
        `the retries, killed again: ${createdBySecond.length} created and answered, ${existedAfterSecond.size} instances existed a second later; ` +
        `${created.length} created by the last retries (${retries.reduce((n, r) => n + r.attempts, 0)} attempts)`,
    );

    const { state } = await expectExactBooks(client, ns.name);
    expect(duplicates(state)).toEqual([]);
    expect(orphans(state)).toEqual([]);
    expect([...state.workloads.keys()].sort()).toEqual([...ids].sort());
    // Nothing that existed was replaced: the same object (uid) is there at the end.
    for (const [id, object] of existedAfterSecond) expect(state.workloads.get(id), id).toEqual([object]);
    for (const [id, object] of existed) expect(state.workloads.get(id), id).toEqual([object]);
    for (const j of state.jobs) expect(state.pods.filter((p) => instanceOf(p) === instanceOf(j))).toHaveLength(1);

    // A second kill with nothing in flight: the books come back from the cluster alone, exact at once.
    await daemon.kill('SIGKILL');
    await daemon.start();
    await waitFor('the restarted daemon to serve', async () => (await once(client, 'GetCapacity', { providerId: 'cp' })).outcome === 'OK');
    const final = await expectExactBooks(client, ns.name);
    expect(t.tally.settle(final.state.workloads)).toEqual([]);
  }, 300_000);
});

// The Undeploys go through a proxy that holds the API server's answers while
// they run: each one's DELETE lands at once, but no Undeploy can be answered
// before the SIGKILL. Undeploy is one quick DELETE, so without the hold all
// 20 could be answered in one burst before a kill sent on the first answer.
describe.runIf(isLocalCluster())('SIGKILL during 20 concurrent Undeploys', () => {
  let pki: TestPki;
  let proxy: ApiProxy;
  beforeAll(async () => {
    pki = makePki();
    proxy = new ApiProxy(makeKubeConfig(), pki);
    await proxy.start();
  });
  const t = connectedDaemon('crash-undeploy', 'SIGKILL during 20 concurrent Undeploys', (namespace) => ({
    kubernetes: { kubeconfig: proxy.kubeconfig(), namespace },
  }));
  afterAll(async () => {
    await proxy?.stop();
    pki?.cleanup();
  });

  it('the retried Undeploys finish, nothing is orphaned, and the room comes back exactly', async () => {
    const { ns, daemon, client } = t;
    const ids = Array.from({ length: 24 }, (_, i) => `gone-${String(i).padStart(2, '0')}`);
    const doomed = ids.slice(0, 20);
    const staying = ids.slice(20);
    for (const [i, r] of (await Promise.all(ids.map((id, i) => untilAnswered(client, 'Deploy', deployRequest(id, i))))).entries()) {
      expect(r.outcome, ids[i]).toBe('OK');
    }
    await expectExactBooks(client, ns.name);

    const instances = instancesClient(daemon.port);
    const undeploy = (id: string): Record<string, unknown> => ({ providerId: 'cp', instanceId: id, graceSeconds: 1 });
    const deletes = (): number => proxy.requests.filter((r) => r.method === 'DELETE' && doomed.some((id) => r.path.split('?')[0]!.endsWith(`/${id}`))).length;
    proxy.latencyMs = 5000;
    const { outcomes } = await killDuring(
      daemon,
      doomed.map((id) => () => once(instances, 'Undeploy', undeploy(id))),
      () => deletes() > 0,
      10_000,
    );
    proxy.latencyMs = 0;
    // The kill landed while the daemon's DELETEs were out: every Undeploy was cut.
    expect(deletes()).toBeGreaterThan(0);
    for (const o of outcomes) expect(o).toMatch(/^(UNAVAILABLE|CANCELLED|INTERNAL)/);

    await daemon.start();
    const retries = await Promise.all(doomed.map((id) => untilAnswered(instances, 'Undeploy', undeploy(id))));
    for (const [i, r] of retries.entries()) expect(r.outcome, doomed[i]).toBe('OK');
    instances.close();

    // Every undeployed workload goes, its pods with it (a Job's through the garbage collector).
    const state = await waitFor(
      'the undeployed workloads and their pods to be gone',
      async () => {
        const s = await clusterState(ns.name);
        const left = [...s.pods, ...s.jobs].filter((o) => doomed.includes(instanceOf(o)));
        return left.length === 0 ? s : false;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(orphans(state)).toEqual([]);
    expect([...state.workloads.keys()].sort()).toEqual(staying);
    const { books } = await expectExactBooks(client, ns.name);
    expect(books.used.cpu).toBe(staying.reduce((n, id) => n + 20 + ids.indexOf(id), 0));

    // An undeployed id can be deployed again, and is created anew.
    const again = await untilAnswered(client, 'Deploy', deployRequest(doomed[0]!, 0));
    expect(again).toMatchObject({ outcome: 'OK', response: { created: true } });
    expect(t.tally.settle((await clusterState(ns.name)).workloads)).toEqual([]);
  }, 300_000);
});

describe("SIGKILL during the janitor's cleanup of finished Jobs", () => {
  const t = connectedDaemon('crash-janitor', "SIGKILL during the janitor's cleanup of finished Jobs", { jobs: { cleanup_policy: 'OnSuccess' } });

  it('after the restart every Job its policy removes is removed, with its pods; what the policy keeps stays', async () => {
    const { ns, daemon, client } = t;
    // Early jobs finish while the daemon runs (the kill lands in their cleanup), late ones while it is down.
    const early = Array.from({ length: 16 }, (_, i) => `early-${String(i).padStart(2, '0')}`);
    const late = Array.from({ length: 8 }, (_, i) => `late-${i}`);
    const kept = ['kept-0', 'kept-1']; // ON_FAILURE keeps a Job that succeeded
    const pods = ['long-0', 'long-1']; // long-running Pods, untouched by the janitor
    const job = (delay: string, policy?: string): Record<string, unknown> => ({
      kind: 'JOB',
      annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': delay },
      ...(policy ? { cleanupPolicy: policy } : {}),
    });
    const requests = [
      ...early.map((id, i) => deployRequest(id, i, job('4s'))),
      ...late.map((id, i) => deployRequest(id, i, job('25s'))),
      ...kept.map((id, i) => deployRequest(id, i, job('4s', 'ON_FAILURE'))),
      ...pods.map((id, i) => deployRequest(id, i, { kind: 'POD' })),
    ];
    for (const r of await Promise.all(requests.map((r) => untilAnswered(client, 'Deploy', r)))) expect(r.outcome).toBe('OK');

    await waitFor('the janitor to start removing finished jobs', () => daemon.lines('finished job cleaned up').length > 0, {
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    await daemon.kill('SIGKILL');
    const cleanedBefore = daemon.lines('finished job cleaned up').length;

    // While the daemon is down the late Jobs finish; nobody removes them.
    const down = await waitFor(
      'the late jobs to finish while the daemon is down',
      async () => {
        const s = await clusterState(ns.name);
        const done = s.jobs.filter((j) => late.includes(instanceOf(j)) && jobFinished(j));
        return done.length === late.length ? s : false;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const leftEarly = down.jobs.filter((j) => early.includes(instanceOf(j))).length;
    console.log(`janitor crash: ${cleanedBefore} jobs cleaned before the kill, ${leftEarly} early and ${late.length} late finished jobs left for the restart`);

    await daemon.start();
    const state = await waitFor(
      'every OnSuccess job and its pods to be removed',
      async () => {
        const s = await clusterState(ns.name);
        const left = [...s.jobs, ...s.pods].filter((o) => early.includes(instanceOf(o)) || late.includes(instanceOf(o)));
        return left.length === 0 ? s : false;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(orphans(state)).toEqual([]);
    expect([...state.workloads.keys()].sort()).toEqual([...kept, ...pods].sort());
    expect(state.jobs.filter((j) => kept.includes(instanceOf(j))).every(jobFinished)).toBe(true);
    expect(daemon.lines('could not delete; will retry')).toEqual([]);
    const { books } = await expectExactBooks(client, ns.name);
    // Only the long-running Pods hold anything: finished Jobs hold nothing.
    expect(books.used.cpu).toBe(20 + 21);
    // The policy removed the early and late Jobs on purpose.
    t.tally.removed([...early, ...late]);
    expect(t.tally.settle(state.workloads)).toEqual([]);
  }, 300_000);
});

/**
 * Issue 12: a restart, a rolling update or a crash of the daemon is
 * invisible to the control plane. The daemons run as separate processes
 * (dist/src/main.js) against the test cluster, fronted by a TCP front that
 * routes new connections to the replicas that are SERVING, as a Service
 * would, and driven by a client that behaves like iarnet.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, makeClient, statusOf } from '../helpers/daemon.js';
import { apiServerAddress, IarnetClient, kubeconfigVia, MAIN, ReplicaProcess, TcpFront, TcpProxy, healthOf, type LogLine } from '../helpers/replicas.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { ANNOTATION_INSTANCE_ID, LABEL_MANAGED } from '../../src/shared/labels.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { FaultTally } from '../helpers/fault-figures.js';
import { clusterState } from '../helpers/books.js';

const root = resolve(import.meta.dirname, '..', '..');
const LEASE = { lease_duration_seconds: 4, renew_deadline_seconds: 3, retry_period_seconds: 0.5 };
const BECAME = 'became the active replica (leader lease acquired)';
const STOPPED = 'stopped being the active replica';
const RELEASED = 'leader lease released';

function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

beforeAll(() => {
  if (!existsSync(MAIN) || statSync(MAIN).mtimeMs < newest(join(root, 'src'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  buildCli();
});

function replicaConfig(namespace: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kubernetes: { kubeconfig: kubeconfigPath(), namespace },
    resource: { cpu: 4000, memory: '4Gi', gpu: 0 },
    prometheus: { port: 0 },
    leader_election: LEASE,
    ...extra,
  };
}

const timeOf = (l: LogLine | undefined): number => {
  if (!l) throw new Error('no such log line');
  return l.at;
};

/**
 * The fault-figures row of a describe block, registered before its own
 * hooks: counts the calls of its clients from its first beforeAll on; after
 * each test, the signals the tests sent to the replicas so far and their peak
 * RSS (so the kills of the cleanup, which runs before this afterAll, are not
 * counted as faults).
 */
function faultFigures(scenario: string, replicas: () => ReplicaProcess[], intended?: ConstructorParameters<typeof FaultTally>[2]): FaultTally {
  const tally = new FaultTally(scenario, import.meta.filename, intended);
  let signals: Record<string, number> = {};
  beforeAll(() => void tally.listen());
  afterEach(() => {
    signals = {};
    for (const r of replicas()) {
      for (const [signal, n] of Object.entries(r.signals)) signals[signal] = (signals[signal] ?? 0) + (n ?? 0);
      tally.rss(r.peakRss());
    }
  });
  afterAll(() => {
    for (const [signal, n] of Object.entries(signals)) tally.fault(signal, n);
    tally.write();
  });
  return tally;
}

/** Managed pods by instance id, with their cpu requests in millicores. */
async function managedPods(namespace: string): Promise<Array<{ instanceId: string; cpuMilli: number }>> {
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  const list = await core.listNamespacedPod({ namespace, labelSelector: `${LABEL_MANAGED}=true` });
  return list.items.map((p) => {
    const cpu = String(p.spec?.containers[0]?.resources?.requests?.cpu ?? '0');
    return { instanceId: p.metadata?.annotations?.[ANNOTATION_INSTANCE_ID] ?? '', cpuMilli: cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000 };
  });
}

describe('one replica restarted (SIGTERM, then SIGKILL)', () => {
  let ns: TestNamespace;
  let solo: ReplicaProcess;
  // The refusals asked of another provider id are the answers the test wants.
  const tally = faultFigures(
    'One replica: SIGTERM, then SIGKILL, each followed by a restart',
    () => (solo ? [solo] : []),
    (method, outcome) => /^(PERMISSION_DENIED|FAILED_PRECONDITION)\b/.test(outcome) && method !== 'Deploy',
  );
  beforeAll(async () => {
    ns = await createTestNamespace('cont-solo');
    solo = await ReplicaProcess.create('solo-0', replicaConfig(ns.name));
  });
  afterAll(async () => {
    if (solo?.running()) await solo.kill('SIGKILL');
    await ns?.cleanup();
  });

  it('continues the session without Connect, still refuses another id, and admits again', async () => {
    await solo.start();
    let client = makeClient(solo.port);
    expect(await call(client, 'Connect', { providerId: 'cp' })).toMatchObject({ success: true });
    expect(await statusOf(call(client, 'HealthCheck', { providerId: 'cp' }))).toBe('OK');
    expect(await call(client, 'Deploy', { providerId: 'cp', instanceId: 'before', image: 'x', resourceRequest: { cpu: 10, memory: 1 << 20 } })).toMatchObject({
      error: '',
    });
    client.close();

    const lease = await makeKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'k8s-provider-session', namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBe('cp');

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const code = await solo.kill(signal);
      expect(code).toBe(signal === 'SIGTERM' ? 0 : null);
      const restarted = Date.now();
      await solo.start();
      client = makeClient(solo.port);
      expect(await statusOf(call(client, 'HealthCheck', { providerId: 'cp' })), signal).toBe('OK');
      expect(await statusOf(call(client, 'HealthCheck', { providerId: 'other' })), signal).toBe(
        'PERMISSION_DENIED: provider_id "other" is not the connected provider',
      );
      expect(await call(client, 'Connect', { providerId: 'other' }), signal).toMatchObject({
        success: false,
        error: 'FAILED_PRECONDITION: provider is already connected to "cp"',
      });
      const deployed = await call<{ error: string }>(client, 'Deploy', {
        providerId: 'cp',
        instanceId: `after-${signal.toLowerCase()}`,
        image: 'x',
        resourceRequest: { cpu: 10, memory: 1 << 20 },
      });
      expect(deployed.error, signal).toBe('');
      // The same pod name (identity) takes its own lease back at once, also after SIGKILL.
      await waitFor('the restarted replica to log that it leads', () => solo.lines(BECAME, restarted).length > 0, { timeoutMs: 2000, intervalMs: 20 });
      expect(solo.lines(BECAME, restarted)).toHaveLength(1);
      client.close();
    }
    expect(solo.lines('session connected')).toHaveLength(1);
    expect(tally.settle((await clusterState(ns.name)).workloads)).toEqual([]);
  });
});

describe('session expiry across a restart', () => {
  // Long enough that a restart on a busy machine fits well inside it.
  const TIMEOUT_S = 12;
  let ns: TestNamespace;
  let solo: ReplicaProcess;
  beforeAll(async () => {
    ns = await createTestNamespace('cont-expiry');
    solo = await ReplicaProcess.create('expiry-0', replicaConfig(ns.name, { session: { health_timeout_seconds: TIMEOUT_S, persist_interval_seconds: 1 } }));
  });
  afterAll(async () => {
    if (solo?.running()) await solo.kill('SIGKILL');
    await ns?.cleanup();
  });

  it('times out from the persisted last-seen: alive past connect + timeout, expired once the control plane stays away', async () => {
    await solo.start();
    let client = makeClient(solo.port);
    const connected = Date.now();
    expect(await call(client, 'Connect', { providerId: 'cp' })).toMatchObject({ success: true });
    while (Date.now() - connected < TIMEOUT_S * 1000 + 500) {
      expect(await statusOf(call(client, 'HealthCheck', { providerId: 'cp' }))).toBe('OK');
      await new Promise((r) => setTimeout(r, 500));
    }
    client.close();
    // Written behind at most once a second: the last write is at most a second old.
    await new Promise((r) => setTimeout(r, 1200));
    const lastSeen = Date.now() - 1200;
    await solo.kill('SIGKILL');
    await solo.start();
    client = makeClient(solo.port);
    // Past connected-at + timeout, within last-seen + timeout: the session continues.
    expect(Date.now() - connected).toBeGreaterThan(TIMEOUT_S * 1000);
    expect(Date.now() - lastSeen).toBeLessThan(TIMEOUT_S * 1000);
    expect(await statusOf(call(client, 'HealthCheck', { providerId: 'cp' }))).toBe('OK');
    client.close();

    // Now the control plane vanishes while the daemon is down.
    const gone = Date.now();
    await solo.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, Math.max(0, TIMEOUT_S * 1000 + 1000 - (Date.now() - gone))));
    await solo.start();
    client = makeClient(solo.port);
    expect(await statusOf(call(client, 'HealthCheck', { providerId: 'cp' }))).toBe('FAILED_PRECONDITION: no control plane is connected: call Connect first');
    expect(await call(client, 'Connect', { providerId: 'cp-2' })).toMatchObject({ success: true });
    client.close();
    // Log lines reach stdout up to 250 ms after they are written (src/log.ts): wait for them, do not race them.
    await waitFor('the expiry to be logged', () => solo.lines('session expired: no HealthCheck within the timeout').length > 0, {
      timeoutMs: 2000,
      intervalMs: 20,
    });
    expect(solo.lines('session expired: no HealthCheck within the timeout').at(-1)).toMatchObject({ providerId: 'cp' });
  });
});

describe('two replicas behind a front', () => {
  let ns: TestNamespace;
  let replicas: ReplicaProcess[];
  let front: TcpFront;
  let iarnet: IarnetClient;
  const tally = faultFigures('Two replicas behind a front: a rolling restart (SIGTERM each), then SIGKILL of the active one', () => replicas ?? []);
  const active = (): ReplicaProcess => {
    const leaders = replicas.filter((r) => r.leading());
    if (leaders.length !== 1) throw new Error(`expected one active replica, got ${leaders.map((r) => r.name).join(', ') || 'none'}`);
    return leaders[0]!;
  };

  beforeAll(async () => {
    ns = await createTestNamespace('cont-pair');
    replicas = [await ReplicaProcess.create('pair-a', replicaConfig(ns.name)), await ReplicaProcess.create('pair-b', replicaConfig(ns.name))];
    await replicas[0]!.start();
    await waitFor('pair-a to lead', () => replicas[0]!.leading());
    await replicas[1]!.start();
    front = new TcpFront(replicas.map((r) => r.port));
    await front.start();
    await waitFor('both replicas behind the front', () => front.readyUpstreams().length === 2);
    iarnet = new IarnetClient(front.port, 'iarnet', { healthEveryMs: 1000, deployEveryMs: 700 });
    await call(makeClient(front.port), 'Connect', { providerId: 'iarnet' });
  });
  afterAll(async () => {
    await iarnet?.stop();
    iarnet?.close();
    await front?.stop();
    for (const r of replicas ?? []) if (r.running()) await r.kill('SIGKILL');
    await ns?.cleanup();
  });

  it('both replicas serve; gRPC health says which one is active; the CLI health names it', async () => {
    expect(await Promise.all(replicas.map((r) => healthOf(r.port, 'provider.Service')))).toEqual(['SERVING', 'SERVING']);
    expect(await Promise.all(replicas.map((r) => healthOf(r.port, 'leader')))).toEqual(['SERVING', 'NOT_SERVING']);
    const viaStandby = await runCli(['health', '--addr', `127.0.0.1:${replicas[1]!.port}`, '-p', 'iarnet']);
    expect(viaStandby.stdout).toContain('replica: pair-b (standby; active: pair-a)');
    const viaActive = await runCli(['health', '--addr', `127.0.0.1:${replicas[0]!.port}`, '-p', 'iarnet', '--json']);
    expect(JSON.parse(viaActive.stdout)).toMatchObject({ replica: 'pair-a', activeReplica: 'pair-a' });
    // A Deploy sent to the standby is forwarded to the active replica.
    const standby = makeClient(replicas[1]!.port);
    expect(
      await call(standby, 'Deploy', { providerId: 'iarnet', instanceId: 'via-standby', image: 'x', resourceRequest: { cpu: 10, memory: 1 << 20 } }),
    ).toMatchObject({ error: '', created: true });
    standby.close();
    await waitFor(
      'the active replica to log the forwarded create',
      () => replicas[0]!.logs.find((l) => l.msg === 'instance created' && l.instanceId === 'via-standby'),
      {
        timeoutMs: 2000,
        intervalMs: 20,
      },
    );
    expect(replicas[1]!.logs.find((l) => l.msg === 'instance created' && l.instanceId === 'via-standby')).toBeUndefined();
  });

  it('a rolling restart of both, the active first, fails no call of the control plane', async () => {
    iarnet.start();
    await new Promise((r) => setTimeout(r, 3000));
    const handovers: number[] = [];
    for (let round = 0; round < 2; round++) {
      const leaving = active();
      const staying = replicas.find((r) => r !== leaving)!;
      const since = Date.now();
      expect(await leaving.kill('SIGTERM')).toBe(0);
      await waitFor(`${staying.name} to take over`, () => staying.lines(BECAME, since).length > 0, { timeoutMs: 5000 });
      handovers.push(timeOf(staying.lines(BECAME, since)[0]) - timeOf(leaving.lines(RELEASED, since)[0]));
      await leaving.start();
      await waitFor(`${leaving.name} back behind the front`, () => front.readyUpstreams().includes(leaving.port));
      await new Promise((r) => setTimeout(r, 2000));
    }
    await iarnet.stop();
    console.log(
      `rolling restart: hand-over after release ${handovers.join(' ms, ')} ms; ${iarnet.count('HealthCheck')} HealthChecks, ${iarnet.count('Deploy')} deploys`,
    );
    expect(iarnet.failures()).toEqual([]);
    expect(iarnet.count('HealthCheck')).toBeGreaterThan(8);
    expect(iarnet.count('Deploy')).toBeGreaterThan(10);
    // The release hands over at once: without it the standby would wait out the whole lease.
    expect(handovers.every((ms) => ms < LEASE.lease_duration_seconds * 1000)).toBe(true);
    const pods = await managedPods(ns.name);
    const ids = pods.map((p) => p.instanceId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of iarnet.calls.filter((x) => x.method === 'Deploy')) expect(ids).toContain(c.instanceId);
  });

  it('after SIGKILL of the active replica, calls succeed again within the lease duration plus 2 s', async () => {
    const victim = active();
    const survivor = replicas.find((r) => r !== victim)!;
    const probe = new IarnetClient(front.port, 'iarnet');
    const killed = Date.now();
    await victim.kill('SIGKILL');
    let recovered: number | undefined;
    while (recovered === undefined && Date.now() - killed < 20_000) {
      // The same id each time, as iarnet retries a Deploy.
      await probe.deploy('after-kill', 3000);
      if (probe.calls.at(-1)!.outcome === 'OK') recovered = Date.now();
    }
    probe.close();
    const ms = recovered! - killed;
    console.log(`fail-over after SIGKILL: first successful Deploy through the front after ${ms} ms (lease ${LEASE.lease_duration_seconds} s)`);
    await waitFor(`${survivor.name} to log that it leads`, () => survivor.leading(), { timeoutMs: 2000, intervalMs: 20 });
    expect(ms).toBeLessThanOrEqual(LEASE.lease_duration_seconds * 1000 + 2000);
    await victim.start();
    await waitFor(`${victim.name} back as the standby`, () => front.readyUpstreams().length === 2);
    expect(victim.leading()).toBe(false);
    expect(tally.settle((await clusterState(ns.name)).workloads)).toEqual([]);
  });
});

describe('the session shared by two replicas', () => {
  let ns: TestNamespace;
  let replicas: ReplicaProcess[];
  beforeAll(async () => {
    ns = await createTestNamespace('cont-shared');
    replicas = [await ReplicaProcess.create('shared-a', replicaConfig(ns.name)), await ReplicaProcess.create('shared-b', replicaConfig(ns.name))];
    await replicas[0]!.start();
    await waitFor('shared-a to lead', () => replicas[0]!.leading());
    await replicas[1]!.start();
  });
  afterAll(async () => {
    for (const r of replicas ?? []) if (r.running()) await r.kill('SIGKILL');
    await ns?.cleanup();
  });

  it('a Connect on the standby holds on the active replica at once, and a Disconnect ends it on both', async () => {
    const [active, standby] = replicas.map((r) => makeClient(r.port)) as [ReturnType<typeof makeClient>, ReturnType<typeof makeClient>];
    for (let round = 0; round < 5; round++) {
      const id = `cp-${round}`;
      expect(await call(standby, 'Connect', { providerId: id })).toMatchObject({ success: true });
      // Forwarded to the active replica right behind the Connect, which reached it only through the Lease watch.
      const deployed = await call<{ error: string }>(standby, 'Deploy', {
        providerId: id,
        instanceId: `shared-${round}`,
        image: 'x',
        resourceRequest: { cpu: 10, memory: 1 << 20 },
      });
      expect(deployed.error).toBe('');
      expect(await statusOf(call(active, 'HealthCheck', { providerId: id }))).toBe('OK');
      expect(await call(active, 'Connect', { providerId: 'someone-else' })).toMatchObject({
        success: false,
        error: `FAILED_PRECONDITION: provider is already connected to "${id}"`,
      });
      await call(active, 'Disconnect', { providerId: id });
      await waitFor(
        'the standby to see the Disconnect',
        async () => (await statusOf(call(standby, 'HealthCheck', { providerId: id }))).startsWith('FAILED_PRECONDITION'),
        { timeoutMs: 5000, intervalMs: 20 },
      );
    }
    active.close();
    standby.close();
    await waitFor('five creates logged by the active replica', () => replicas[0]!.logs.filter((l) => l.msg === 'instance created').length >= 5, {
      timeoutMs: 2000,
      intervalMs: 20,
    });
    expect(replicas[0]!.logs.filter((l) => l.msg === 'instance created')).toHaveLength(5);
  });
});

describe('forwarding under mutual TLS', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  const daemons: TestDaemon[] = [];
  beforeAll(async () => {
    ns = await createTestNamespace('cont-tls');
    pki = makePki();
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop().catch(() => undefined);
    pki?.cleanup();
    await ns?.cleanup();
  });

  const start = async (identity: string, cert: string, key: string): Promise<TestDaemon> => {
    const d = await startTestDaemon(ns.name, {
      server: { tls: { cert_file: cert, key_file: key, client_ca_file: pki.caCert } },
      leader_election: { ...LEASE, identity },
    });
    daemons.push(d);
    return d;
  };
  const client = (port: number): ReturnType<typeof makeClient> =>
    makeClient(port, grpc.credentials.createSsl(readFileSync(pki.caCert), readFileSync(pki.clientKey), readFileSync(pki.clientCert)));

  it('the standby presents its server certificate to the active replica, which checks it against client_ca_file', async () => {
    const a = await start('tls-a', pki.replicaCert, pki.replicaKey);
    await waitFor('tls-a to lead', () => a.daemon.leader().leading);
    const b = await start('tls-b', pki.replicaCert, pki.replicaKey);
    const viaStandby = client(b.daemon.port);
    expect(await call(viaStandby, 'Connect', { providerId: 'cp' })).toMatchObject({ success: true });
    expect(
      await call(viaStandby, 'Deploy', { providerId: 'cp', instanceId: 'over-tls', image: 'x', resourceRequest: { cpu: 10, memory: 1 << 20 } }),
    ).toMatchObject({ error: '', created: true });
    expect(a.logs.find((l) => l.msg === 'instance created' && l.instanceId === 'over-tls')).toBeDefined();
    viaStandby.close();
  });

  it('a server certificate not allowed for client authentication cannot forward, and the Deploy says why', async () => {
    // tls-a is still active; a standby whose certificate is serverAuth only.
    const c = await start('tls-c', pki.serverCert, pki.serverKey);
    const viaStandby = client(c.daemon.port);
    const res = await call<{ error: string }>(viaStandby, 'Deploy', {
      providerId: 'cp',
      instanceId: 'refused-tls',
      image: 'x',
      resourceRequest: { cpu: 10, memory: 1 << 20 },
    });
    expect(res.error).toMatch(/^UNAVAILABLE: the active replica tls-a \(127\.0\.0\.1:\d+\) failed: /);
    viaStandby.close();
  });
});

describe('a partitioned leader', () => {
  let ns: TestNamespace;
  let proxy: TcpProxy;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  // Both replicas are pressed past the room, the partitioned one past its leadership: these refusals are the point.
  const tally = faultFigures(
    'A partitioned leader (its API server link cut for 9 s) while both replicas are pressed with the same deploys',
    () => [a, b].filter(Boolean),
    (method, outcome) => method === 'Deploy' && /^(RESOURCE_EXHAUSTED|UNAVAILABLE)\b/.test(outcome),
  );
  beforeAll(async () => {
    ns = await createTestNamespace('cont-split');
    const { host, port } = apiServerAddress();
    proxy = new TcpProxy({ host, port });
    await proxy.start();
    // Room for exactly 10 instances of 100m.
    const config = (kubeconfig: string): Record<string, unknown> => ({
      ...replicaConfig(ns.name),
      resource: { cpu: 1000, memory: '4Gi', gpu: 0 },
      kubernetes: { kubeconfig, namespace: ns.name },
    });
    a = await ReplicaProcess.create('split-a', config(kubeconfigVia(`https://127.0.0.1:${proxy.port}`)));
    b = await ReplicaProcess.create('split-b', config(kubeconfigPath()));
  });
  afterAll(async () => {
    for (const r of [a, b]) if (r?.running()) await r.kill('SIGKILL');
    await proxy?.stop();
    await ns?.cleanup();
  });

  it('stops admitting before the standby takes over: no over-commit, no duplicate instance', async () => {
    await a.start();
    await waitFor('split-a to lead', () => a.leading());
    await b.start();
    const toA = new IarnetClient(a.port, 'cp', { prefix: 'to-a', cpu: 100 });
    const toB = new IarnetClient(b.port, 'cp', { prefix: 'to-b', cpu: 100 });
    await call(makeClient(a.port), 'Connect', { providerId: 'cp' });
    for (let i = 0; i < 4; i++) await toA.deploy();

    const cutAt = Date.now();
    proxy.cut();
    tally.fault('network partition (leader from API server)');
    // Both replicas are pressed with more deploys than there is room for, the same ids to both.
    const pressing: Array<Promise<void>> = [];
    let n = 0;
    while (Date.now() - cutAt < 9000) {
      const id = `pressed-${n++}`;
      pressing.push(toA.deploy(id, 6000), toB.deploy(id, 6000));
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor('split-b to lead', () => b.leading(), { timeoutMs: 10_000 });
    proxy.heal();
    await Promise.all(pressing);
    await waitFor('split-a back as a synced standby', async () => (await healthOf(a.port)) === 'SERVING', { timeoutMs: 30_000 });

    const aStopped = timeOf(a.lines(STOPPED, cutAt)[0]);
    const bStarted = timeOf(b.lines(BECAME, cutAt)[0]);
    console.log(`partition: split-a stopped admitting ${aStopped - cutAt} ms after the cut, split-b took over ${bStarted - cutAt} ms after it`);
    expect(aStopped).toBeLessThan(bStarted);
    // Nothing split-a answered OK was admitted after it stopped.
    const lateOnA = toA.calls.filter((c) => c.outcome === 'OK' && c.at > aStopped && c.at < bStarted);
    expect(lateOnA).toEqual([]);

    const pods = await waitFor('the books to settle', async () => {
      const p = await managedPods(ns.name);
      return p.length >= 10 ? p : undefined;
    });
    const ids = pods.map((p) => p.instanceId);
    const all = [...toA.calls, ...toB.calls];
    console.log(
      `partition: ${all.length} deploys (${all.filter((c) => c.outcome === 'OK').length} OK), ${pods.length} pods holding ${pods.reduce((t, p) => t + p.cpuMilli, 0)}m of 1000m; ` +
        `refusals ${JSON.stringify(Object.fromEntries([...new Set(all.map((c) => c.outcome.split(':')[0]))].map((k) => [k, all.filter((c) => c.outcome.split(':')[0] === k).length])))}`,
    );
    expect(new Set(ids).size).toBe(ids.length);
    expect(pods.reduce((t, p) => t + p.cpuMilli, 0)).toBeLessThanOrEqual(1000);
    // The room was contended: more was asked than fits, so the bound above was tested.
    expect(all.filter((c) => c.outcome.startsWith('RESOURCE_EXHAUSTED')).length).toBeGreaterThan(0);
    for (const c of [...toA.calls, ...toB.calls].filter((x) => x.outcome === 'OK')) expect(ids).toContain(c.instanceId);
    expect(tally.settle((await clusterState(ns.name)).workloads)).toEqual([]);
    // And what was refused said why.
    const refusals = [...toA.calls, ...toB.calls].filter((c) => c.outcome !== 'OK').map((c) => c.outcome.split(':')[0]);
    expect(new Set(refusals)).toEqual(new Set(refusals.filter((r) => r === 'RESOURCE_EXHAUSTED' || r === 'UNAVAILABLE')));
    toA.close();
    toB.close();
  });
});

/**
 * The use cases with in-memory versions of the core's own ports: the
 * runtime "creates" by adding to the view after a delay, as a real watch would.
 */
import { describe, expect, it } from 'vitest';
import { alreadyExists, unavailable, DomainError } from './errors.js';
import type { ObservedDeployment, ObservedPod, ObservedWorkloads } from './instances.js';
import { Ledger } from './ledger.js';
import type { DeploySpec, DeployInput } from './deploy-spec.js';
import type { DeleteOutcome, Logger, UsageSnapshot, WorkloadChange, WorkloadRuntime, WorkloadView } from './ports.js';
import { ImagePolicy } from './images.js';
import { Provider, type ProviderDeps } from './provider.js';
import type { NetworkDirectory } from './workload-network.js';
import { Session } from './session.js';
import { MemorySessionStore } from './memory-session-store.js';
import { ZERO, type Resources } from './resources.js';
import type { EventInput, EventRecorder } from './events.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

class MemoryCluster implements WorkloadView, WorkloadRuntime {
  private value: ObservedWorkloads = { pods: [], jobs: [] };
  get current(): ObservedWorkloads {
    return this.value;
  }
  /** A wholesale change is announced as a relist, as the view's contract asks. */
  set current(v: ObservedWorkloads) {
    this.value = v;
    for (const l of this.listeners) l({ type: 'reset', kind: 'Pod' });
  }
  creates = 0;
  /** Every create call, refused ones included (what the API server would count). */
  createCalls = 0;
  failNext: DomainError | undefined;
  isSynced = true;
  readonly stored = new Map<string, string>();
  private listeners: Array<(c: WorkloadChange) => void> = [];
  snapshot = (): ObservedWorkloads => this.value;
  synced = (): boolean => this.isSynced;
  onChange = (l: (c: WorkloadChange) => void): (() => void) => {
    this.listeners.push(l);
    return () => {};
  };

  /** Set: creates wait until their signal aborts, as a call to an unreachable API server would. */
  hang = false;

  scales: number[] = [];

  claimNames(spec: DeploySpec): readonly string[] {
    return spec.volumes.filter((v) => v.type === 'claim').map((v) => `${spec.instanceId}-${v.name}`);
  }

  async scale(ref: { name: string }, replicas: number): Promise<void> {
    await tick();
    this.scales.push(replicas);
    const d = this.current.deployments?.find((x) => x.name === ref.name);
    if (!d) throw new Error('gone');
    // The watch shows the new count a little later.
    setTimeout(() => this.putDeployment({ ...d, replicas }), 5);
  }

  putDeployment(d: ObservedDeployment): void {
    const before = this.value.deployments ?? [];
    const others = before.filter((x) => x.name !== d.name);
    this.value = { ...this.value, deployments: [...others, d] };
    const type = others.length < before.length ? 'modified' : 'added';
    for (const l of this.listeners) l({ type, kind: 'Deployment', object: d });
  }

  async create(spec: DeploySpec, signal?: AbortSignal): Promise<{ name: string; claims: readonly string[] }> {
    this.createCalls++;
    await tick();
    if (this.hang) {
      await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(unavailable('aborted'))));
    }
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    // Like the API server, names conflict at once, before any watch shows the object.
    if (this.stored.has(spec.instanceId)) throw alreadyExists('exists');
    this.stored.set(spec.instanceId, spec.specHash);
    this.creates++;
    if (spec.kind === 'Deployment') {
      const d: ObservedDeployment = {
        name: spec.instanceId,
        instanceId: spec.instanceId,
        replicas: spec.replicas ?? 1,
        readyReplicas: 0,
        podRequests: spec.resources,
        podEphemeralStorage: spec.volumes.reduce((n, v) => (v.type === 'emptyDir' ? n + v.sizeBytes : n), 0),
        specHash: spec.specHash,
      };
      setTimeout(() => this.putDeployment(d), 5);
      return { name: spec.instanceId, claims: this.claimNames(spec) };
    }
    // The watch shows the new pod a little later.
    setTimeout(
      () =>
        this.add({
          name: spec.instanceId,
          instanceId: spec.instanceId,
          phase: 'Pending',
          requests: spec.resources,
          terminating: false,
          specHash: spec.specHash,
        }),
      5,
    );
    return { name: spec.instanceId, claims: this.claimNames(spec) };
  }

  async lookup(instanceId: string): Promise<{ name: string; kind: 'Pod'; uid: string | undefined; specHash: string | undefined } | undefined> {
    const specHash = this.stored.get(instanceId);
    return specHash === undefined ? undefined : { name: instanceId, kind: 'Pod', uid: undefined, specHash };
  }

  async delete(ref: { name: string }): Promise<DeleteOutcome> {
    await tick();
    const had = this.stored.delete(ref.name);
    const pod = this.current.pods.find((p) => p.name === ref.name);
    if (pod) {
      this.value = { ...this.value, pods: this.value.pods.filter((p) => p !== pod) };
      for (const l of this.listeners) l({ type: 'deleted', kind: 'Pod', object: pod });
    }
    return had || pod ? 'deleted' : 'gone';
  }

  add(p: ObservedPod): void {
    this.value = { ...this.value, pods: [...this.value.pods, p] };
    for (const l of this.listeners) l({ type: 'added', kind: 'Pod', object: p });
  }
}

/** A lease this replica holds until `lose()`. */
class Term {
  private controller: AbortController | undefined = new AbortController();
  term = (): AbortSignal | undefined => this.controller?.signal;
  lose(): void {
    this.controller?.abort();
    this.controller = undefined;
  }
}

async function setup(
  total: Resources = { cpu: 10_000, memory: 10 * 2 ** 30, gpu: 2 },
  maxInstances = 1000,
  extra: {
    leadership?: Term;
    imagePolicy?: ImagePolicy;
    storage?: number;
    events?: EventRecorder;
    deployTimeoutMs?: number;
    network?: NetworkDirectory;
    statuses?: ProviderDeps['statuses'];
  } = {},
) {
  const leadership = extra.leadership ?? new Term();
  const cluster = new MemoryCluster();
  const clock = { now: () => Date.now() };
  const session = new Session(new MemorySessionStore(), clock, 90_000, silent);
  const ledger = new Ledger(cluster, clock, { unseenTtlMs: 60_000 });
  const usage = { current: (): UsageSnapshot => ({ total: ZERO, perInstance: new Map(), source: 'requests', sampledAt: 0, stale: false }) };
  const provider = new Provider(
    {
      session,
      leadership,
      ledger,
      view: cluster,
      runtime: cluster,
      capacity: { total: () => total, storage: () => extra.storage },
      usage,
      log: silent,
      events: extra.events,
      network: extra.network,
      statuses: extra.statuses,
    },
    {
      resourceTags: ['cpu', 'memory'],
      maxInstances,
      deployDefaults: { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' },
      imagePolicy: extra.imagePolicy,
      deployTimeoutMs: extra.deployTimeoutMs,
    },
  );
  await provider.connect('cp');
  return { cluster, ledger, provider };
}

const req = (instanceId: string, cpu = 100, over: Partial<DeployInput> = {}): DeployInput => ({
  instanceId,
  providerId: 'cp',
  image: 'img',
  resources: { cpu, memory: 2 ** 20, gpu: 0 },
  env: {},
  ...over,
});

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof DomainError ? err.kind : String(err);
  }
}

describe('Provider.deploy', () => {
  it('refuses an image outside workloads.allowed_images with PERMISSION_DENIED, before reserving or creating anything', async () => {
    const { provider, cluster, ledger } = await setup(undefined, undefined, {
      imagePolicy: new ImagePolicy(['registry.example.com/iarnet/*', 'docker.io/library/busybox']),
    });
    const refused = await provider.deploy(req('a', 100, { image: 'nginx' })).catch((e: unknown) => e as DomainError);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).kind).toBe('PERMISSION_DENIED');
    expect((refused as DomainError).message).toBe('image "nginx" (docker.io/library/nginx:latest) is not allowed by workloads.allowed_images');
    expect(await outcome(provider.deploy(req('b', 100, { image: 'registry.example.com/iarnet/other/comp:1' })))).toBe('PERMISSION_DENIED');
    expect(cluster.creates).toBe(0);
    expect(ledger.used()).toEqual(ZERO);
    expect(await outcome(provider.deploy(req('c', 100, { image: 'registry.example.com/iarnet/comp:1.2' })))).toBe('ok');
    expect(await outcome(provider.deploy(req('d', 100, { image: 'busybox:1.36' })))).toBe('ok');
    expect(cluster.creates).toBe(2);
    // A malformed reference is the caller's mistake, whatever the list says.
    expect(await outcome(provider.deploy(req('e', 100, { image: 'UPPER/Case' })))).toBe('INVALID_ARGUMENT');
  });

  it('never over-commits under 200 concurrent deploys', async () => {
    const { provider, cluster, ledger } = await setup({ cpu: 10_000, memory: 10 * 2 ** 30, gpu: 0 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => outcome(provider.deploy(req(`i-${i}`, 150)))));
    const ok = results.filter((r) => r === 'ok').length;
    expect(ok).toBe(66); // floor(10000 / 150)
    expect(results.filter((r) => r === 'RESOURCE_EXHAUSTED')).toHaveLength(134);
    expect(cluster.creates).toBe(66);
    await tick(20);
    expect(ledger.used().cpu).toBe(9900);
    expect(provider.currentCapacity().available.cpu).toBe(100);
  });

  it('releases the reservation of a failed create', async () => {
    const { provider, cluster, ledger } = await setup({ cpu: 1000, memory: 2 ** 30, gpu: 0 });
    cluster.failNext = unavailable('api down');
    expect(await outcome(provider.deploy(req('a', 1000)))).toBe('UNAVAILABLE');
    expect(ledger.used()).toEqual(ZERO);
    expect(await outcome(provider.deploy(req('a', 1000)))).toBe('ok');
  });

  it('is idempotent for the same spec and refuses a different spec under the same id', async () => {
    const { provider, cluster } = await setup();
    await expect(provider.deploy(req('a'))).resolves.toMatchObject({ created: true, kind: 'Pod' });
    // Before the watch shows it: answered from the reservation, without a second create call.
    await expect(provider.deploy(req('a'))).resolves.toMatchObject({ created: false, workloadName: 'a', kind: 'Pod' });
    expect(cluster.createCalls).toBe(1);
    expect(await outcome(provider.deploy(req('a', 200)))).toBe('ALREADY_EXISTS');
    await tick(10);
    await expect(provider.deploy(req('a'))).resolves.toMatchObject({ created: false });
    expect(await outcome(provider.deploy(req('a', 200)))).toBe('ALREADY_EXISTS');
    expect(cluster.creates).toBe(1);
  });

  it('refuses to deploy an instance that is still terminating, and creates it anew once it is gone', async () => {
    const { provider, cluster } = await setup();
    await provider.deploy(req('t'));
    await tick(10);
    const pod = cluster.current.pods.find((p) => p.instanceId === 't')!;
    cluster.current = { pods: [{ ...pod, phase: 'Running', terminating: true }], jobs: [] };
    cluster.stored.delete('t');
    const refused = await provider.deploy(req('t')).catch((e: DomainError) => e);
    expect(refused).toMatchObject({ kind: 'UNAVAILABLE', message: 'instance "t" is being undeployed; deploy it again once its pods are gone' });
    cluster.current = { pods: [], jobs: [] };
    await expect(provider.deploy(req('t'))).resolves.toMatchObject({ created: true });
  });

  it('waits for a deploy in flight before saying the instance has settled', async () => {
    const { provider, cluster } = await setup();
    const deploying = provider.deploy(req('s'));
    let settled = false;
    const waiting = provider.settled('s').then(() => (settled = true));
    expect(settled).toBe(false);
    await deploying;
    await waiting;
    expect(cluster.creates).toBe(1);
    await expect(provider.settled('never-deployed')).resolves.toBeUndefined();
  });

  it('joins concurrent retries of one instance instead of racing them', async () => {
    const { provider, cluster } = await setup();
    const results = await Promise.all([provider.deploy(req('a')), provider.deploy(req('a')), provider.deploy(req('a'))]);
    expect(results.map((r) => r.created)).toEqual([true, false, false]);
    const first = provider.deploy(req('b'));
    expect(await outcome(provider.deploy(req('b', 300)))).toBe('ALREADY_EXISTS');
    await first;
    expect(cluster.creates).toBe(2);
  });

  it('caps live instances', async () => {
    const { provider } = await setup(undefined, 2);
    await provider.deploy(req('a'));
    await provider.deploy(req('b'));
    await expect(provider.deploy(req('c'))).rejects.toThrow('instance limit reached: 2 live instances (limits.max_instances)');
  });

  it('validates before anything else and creates nothing on bad input', async () => {
    const { provider, cluster } = await setup();
    expect(await outcome(provider.deploy(req('', 0)))).toBe('INVALID_ARGUMENT');
    expect(await outcome(provider.deploy(req('a', 100, { providerId: 'intruder' })))).toBe('PERMISSION_DENIED');
    expect(cluster.creates).toBe(0);
  });

  it('refuses to admit while the cache is not synced', async () => {
    const { provider, cluster } = await setup();
    cluster.isSynced = false;
    expect(await outcome(provider.deploy(req('a')))).toBe('UNAVAILABLE');
  });

  it('admits nothing on the standby', async () => {
    const term = new Term();
    term.lose();
    const { provider, cluster, ledger } = await setup(undefined, undefined, { leadership: term });
    await expect(provider.deploy(req('a'))).rejects.toThrow('this replica is the standby');
    expect(cluster.creates).toBe(0);
    expect(ledger.reservedCount()).toBe(0);
  });

  it('cuts a create in flight when the lease is lost, and frees its reservation', async () => {
    const term = new Term();
    const { provider, cluster, ledger } = await setup(undefined, undefined, { leadership: term });
    cluster.hang = true;
    const pending = outcome(provider.deploy(req('a')));
    await tick(5);
    expect(ledger.reservedCount()).toBe(1);
    term.lose();
    expect(await pending).toBe('UNAVAILABLE');
    expect(ledger.reservedCount()).toBe(0);
  });

  it('says what is short', async () => {
    const { provider } = await setup({ cpu: 200, memory: 2 ** 30, gpu: 0 });
    await expect(provider.deploy(req('a', 500))).rejects.toThrow('needs 500m cpu, 200m cpu available');
  });
});

describe('Provider.deploy and the network objects', () => {
  it('reports what create made, and makes again on a retry what the cluster lacks', async () => {
    const { cluster, provider } = await setup();
    const ensured: string[] = [];
    const endpoint = { serviceName: 'web', dnsName: 'web.ns.svc', clusterIp: '10.0.0.1', ports: [], expose: 'ClusterIP' as const };
    const made = { endpoint, networkPolicy: 'web' };
    const create = cluster.create.bind(cluster);
    cluster.create = async (spec, signal) => ({ ...(await create(spec, signal)), network: made });
    cluster.lookup = async (id) => ({ name: id, kind: 'Pod', uid: 'u1', specHash: cluster.stored.get(id) });
    (cluster as WorkloadRuntime).ensureNetwork = async (spec, ref) => {
      ensured.push(`${spec.instanceId}/${ref.uid}`);
      return made;
    };
    const web = req('web', 100, { workload: { ports: [{ name: '', containerPort: 80, protocol: '' }] } });
    const first = await provider.deploy(web);
    expect(first).toMatchObject({ created: true, endpoint: { ...endpoint, podIp: '' }, networkPolicy: 'web' });
    expect(ensured).toEqual([]);
    // The retry finds no Service or NetworkPolicy in the (absent) directory: the daemon makes them again, once per retry.
    const retry = await provider.deploy(web);
    expect(retry).toMatchObject({ created: false, endpoint: { serviceName: 'web' }, networkPolicy: 'web' });
    expect(ensured).toEqual(['web/u1']);
  });

  it('reports the pod IP of an instance that already exists, as the instance API knows it', async () => {
    const endpoint = { serviceName: 'web', dnsName: 'web.ns.svc', clusterIp: '10.0.0.1', ports: [], expose: 'ClusterIP' as const };
    const podIps = new Map<string, string>();
    const { provider } = await setup(undefined, undefined, {
      network: { of: (id) => (id === 'web' ? { endpoint, networkPolicy: 'web' } : undefined) },
      statuses: { get: (id) => (podIps.has(id) ? { podIp: podIps.get(id)! } : undefined) },
    });
    const web = req('web', 100, { workload: { ports: [{ name: '', containerPort: 80, protocol: '' }] } });
    // Created now: its pod has no IP yet (none is looked up).
    expect(await provider.deploy(web)).toMatchObject({ created: true });
    await tick(20);
    // Seen, not yet given an IP: still empty.
    podIps.set('web', '');
    expect(await provider.deploy(web)).toMatchObject({ created: false, endpoint: { podIp: '' } });
    podIps.set('web', '10.244.0.7');
    expect(await provider.deploy(web)).toMatchObject({ created: false, endpoint: { ...endpoint, podIp: '10.244.0.7' } });
  });
});

describe('Provider: DEPLOYMENT instances', () => {
  const deployment = (id: string, cpu: number, replicas: number | undefined, more: Partial<DeployInput['workload']> = {}): DeployInput =>
    req(id, cpu, { workload: { kind: 'Deployment', replicas, ...more } });

  it('admits the whole set of replicas or nothing', async () => {
    const { provider, cluster, ledger } = await setup({ cpu: 1000, memory: 2 ** 30, gpu: 0 });
    await expect(provider.deploy(deployment('big', 300, 4))).rejects.toThrow('4 replicas needs 1200m cpu, 1 cpu available');
    expect(cluster.creates).toBe(0);
    const result = await provider.deploy(deployment('web', 300, 3));
    expect(result).toMatchObject({ kind: 'Deployment', replicas: 3, created: true });
    // Reserved at once, held by the Deployment once seen: 3 × 300m.
    expect(ledger.used().cpu).toBe(900);
    await tick(20);
    expect(ledger.reservedCount()).toBe(0);
    expect(ledger.used().cpu).toBe(900);
    expect(provider.available('cp').cpu).toBe(100);
  });

  it('defaults to one replica', async () => {
    const { provider, ledger } = await setup();
    expect((await provider.deploy(deployment('one', 250, undefined))).replicas).toBe(1);
    await tick(20);
    expect(ledger.used().cpu).toBe(250);
  });

  it('scales up under admission, changing nothing when it does not fit', async () => {
    const { provider, cluster, ledger } = await setup({ cpu: 1000, memory: 2 ** 30, gpu: 0 });
    await provider.deploy(deployment('web', 300, 1));
    await tick(20);
    await expect(provider.scale({ providerId: 'cp', instanceId: 'web', replicas: 4 })).rejects.toMatchObject({ kind: 'RESOURCE_EXHAUSTED' });
    expect(cluster.scales).toEqual([]);
    expect(ledger.used().cpu).toBe(300);
    expect(await provider.scale({ providerId: 'cp', instanceId: 'web', replicas: 3 })).toEqual({ previousReplicas: 1, replicas: 3 });
    // Held from the moment it was admitted, before the watch shows it...
    expect(ledger.used().cpu).toBe(900);
    await expect(provider.deploy(req('other', 200))).rejects.toMatchObject({ kind: 'RESOURCE_EXHAUSTED' });
    await tick(20);
    // ...and by the Deployment once it does, counted once.
    expect(ledger.used().cpu).toBe(900);
    expect(await provider.scale({ providerId: 'cp', instanceId: 'web', replicas: 1 })).toEqual({ previousReplicas: 3, replicas: 1 });
    await tick(20);
    expect(ledger.used().cpu).toBe(300);
  });

  it('refuses bad scale requests with the field named', async () => {
    const { provider } = await setup();
    await provider.deploy(req('pod', 100));
    await tick(20);
    await expect(provider.scale({ providerId: 'cp', instanceId: 'pod', replicas: -1 })).rejects.toThrow('replicas must be between 0 and 1000 (got -1)');
    await expect(provider.scale({ providerId: 'cp', instanceId: 'nope', replicas: 2 })).rejects.toMatchObject({ kind: 'NOT_FOUND' });
    await expect(provider.scale({ providerId: 'cp', instanceId: 'pod', replicas: 2 })).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION' });
    await expect(provider.scale({ providerId: 'other', instanceId: 'pod', replicas: 2 })).rejects.toMatchObject({ kind: 'PERMISSION_DENIED' });
  });
});

describe('Provider: storage', () => {
  const GiB = 2 ** 30;
  const withVolumes = (id: string, volumes: NonNullable<NonNullable<DeployInput['workload']>['volumes']>, replicas?: number): DeployInput =>
    req(id, 100, { workload: replicas === undefined ? { volumes } : { kind: 'Deployment', replicas, volumes } });
  const scratch = (size: number) => ({ name: 'scratch', mountPath: '/scratch', readOnly: false, emptyDir: { sizeLimitBytes: size } });
  const claim = (size: number, retain = false) => ({
    name: 'data',
    mountPath: '/data',
    readOnly: false,
    claim: { storageClass: 'fast', sizeBytes: size, accessMode: '', retain },
  });

  it('counts emptyDir limits per replica and claims once against resource.storage', async () => {
    const { provider, cluster } = await setup(undefined, undefined, { storage: 10 * GiB });
    const result = await provider.deploy(withVolumes('db', [scratch(1 * GiB), claim(4 * GiB)], 2));
    expect(result.volumeClaims).toEqual(['db-data']);
    // 2 × 1 GiB scratch + one 4 GiB claim = 6 GiB, reserved before the watch shows anything.
    expect(provider.storage()).toMatchObject({ limited: true, total: 10 * GiB, used: 6 * GiB, available: 4 * GiB });
    await expect(provider.deploy(withVolumes('more', [claim(5 * GiB)]))).rejects.toThrow('needs 5Gi storage, 4Gi storage available (resource.storage)');
    expect(cluster.creates).toBe(1);
  });

  it('counts a retained claim that a redeploy takes again once, at admission and after', async () => {
    const { provider, cluster } = await setup(undefined, undefined, { storage: 10 * GiB });
    // Left by an earlier deploy of db with retain: true; the books hold its 6 GiB.
    const kept = {
      name: 'db-data',
      instanceId: 'db',
      volume: 'data',
      sizeBytes: 6 * GiB,
      storageClass: 'fast',
      phase: 'Bound',
      retain: true,
      terminating: false,
    };
    cluster.current = { pods: [], jobs: [], claims: [kept] };
    expect(provider.storage()).toMatchObject({ used: 6 * GiB, available: 4 * GiB });
    // Counting it again would need 6 GiB of the 4 left: the redeploy adds no storage.
    const result = await provider.deploy(withVolumes('db', [claim(6 * GiB, true)]));
    expect(result).toMatchObject({ created: true, volumeClaims: ['db-data'] });
    expect(provider.storage()).toMatchObject({ used: 6 * GiB, claimedUsed: 6 * GiB });
    await tick(20);
    expect(provider.storage()).toMatchObject({ used: 6 * GiB, claimedUsed: 6 * GiB });
    // Anything new still counts: a second claim, or the same name without retain (not taken again).
    await expect(provider.deploy(withVolumes('other', [claim(6 * GiB, true)]))).rejects.toThrow('needs 6Gi storage, 4Gi storage available');
    cluster.current = { ...cluster.current, claims: [{ ...kept, instanceId: 'db2', name: 'db2-data' }] };
    await expect(provider.deploy(withVolumes('db2', [claim(6 * GiB)]))).rejects.toThrow('needs 6Gi storage');
  });

  it('counts but never refuses storage without a quota', async () => {
    const { provider } = await setup();
    await provider.deploy(withVolumes('db', [claim(400 * GiB)]));
    expect(provider.storage()).toMatchObject({ limited: false, total: 0, available: 0, used: 400 * GiB });
  });

  it('refuses invalid volumes naming the field, before anything is created', async () => {
    const { provider, cluster } = await setup();
    await expect(
      provider.deploy(withVolumes('bad', [{ name: 'Bad_Name', mountPath: 'relative', readOnly: false, emptyDir: { sizeLimitBytes: 0 } }])),
    ).rejects.toThrow(
      /workload\.volumes\[0\]\.name "Bad_Name" must be a DNS label.*workload\.volumes\[0\]\.mount_path "relative" must be an absolute path.*workload\.volumes\[0\]\.empty_dir\.size_limit_bytes must be a positive number of bytes \(got 0\)/,
    );
    expect(cluster.creates).toBe(0);
  });
});

describe('Provider events', () => {
  const recorder = (): EventRecorder & { seen: EventInput[] } => {
    const seen: EventInput[] = [];
    return { seen, record: (e) => void seen.push(e) };
  };

  it('records Deployed on the created workload, and nothing for an idempotent retry', async () => {
    const events = recorder();
    const { provider } = await setup(undefined, undefined, { events });
    await provider.deploy(req('a', 250));
    await provider.deploy(req('a', 250));
    expect(events.seen).toEqual([
      {
        subject: { kind: 'Pod', name: 'a', uid: undefined },
        reason: 'Deployed',
        action: 'Deploy',
        note: 'instance "a" of provider "cp" deployed: image img, 250m cpu, 1Mi memory, 0 gpu',
      },
    ]);
  });

  it('records each refusal as AdmissionRejected on the daemon, one series key per kind of refusal', async () => {
    const events = recorder();
    const { provider } = await setup({ cpu: 1000, memory: 2 ** 30, gpu: 0 }, 1, {
      events,
      imagePolicy: new ImagePolicy(['docker.io/library/busybox']),
    });
    await outcome(provider.deploy(req('big', 2000, { image: 'busybox' })));
    await outcome(provider.deploy(req('big-2', 3000, { image: 'busybox' })));
    await outcome(provider.deploy(req('nginx', 100, { image: 'nginx' })));
    await provider.deploy(req('one', 100, { image: 'busybox' }));
    await outcome(provider.deploy(req('two', 100, { image: 'busybox' })));
    const rejected = events.seen.filter((e) => e.reason === 'AdmissionRejected');
    expect(rejected.map((e) => [e.subject, e.action, e.seriesKey])).toEqual([
      ['daemon', 'Deploy', 'InsufficientCapacity'],
      ['daemon', 'Deploy', 'InsufficientCapacity'],
      ['daemon', 'Deploy', 'ImageNotAllowed'],
      ['daemon', 'Deploy', 'InstanceLimit'],
    ]);
    expect(rejected[0]!.note).toBe('Deploys refused: not enough capacity left. The first: instance "big": needs 2 cpu, 1 cpu available');
    expect(rejected[3]!.note).toMatch(
      /^Deploys refused: the instance limit \(limits\.max_instances\) is reached\. The first: instance "two": instance limit reached/,
    );
  });

  it('records no rejection for what is not an admission decision (invalid input, the standby)', async () => {
    const events = recorder();
    const leadership = new Term();
    const { provider } = await setup(undefined, undefined, { events, leadership });
    await outcome(provider.deploy(req('', 100)));
    leadership.lose();
    await outcome(provider.deploy(req('x', 100)));
    expect(events.seen).toEqual([]);
  });
});

describe('the Deploy deadline', () => {
  it('answers UNAVAILABLE at the configured timeout, cuts the create and releases its room', async () => {
    const { cluster, ledger, provider } = await setup(undefined, undefined, { deployTimeoutMs: 30 });
    cluster.hang = true;
    const err = await provider.deploy(req('slow')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe('UNAVAILABLE');
    expect((err as DomainError).message).toMatch(
      /did not answer within 0.03 s \(kubernetes.deploy_timeout_seconds\).*retry the Deploy with the same instance id/,
    );
    await provider.settled('slow');
    expect(ledger.used().cpu).toBe(0);
    // Once the API server answers again, the same id deploys.
    cluster.hang = false;
    expect(await outcome(provider.deploy(req('slow')))).toBe('ok');
  });

  it("is bounded by the caller's deadline when that comes first", async () => {
    const { cluster, provider } = await setup(undefined, undefined, { deployTimeoutMs: 60_000 });
    cluster.hang = true;
    const err = (await provider.deploy(req('slow'), Date.now() + 300).catch((e: unknown) => e)) as DomainError;
    expect(err.kind).toBe('UNAVAILABLE');
    expect(err.message).toContain("within the caller's deadline");
  });

  it('leaves a Deploy that answers in time alone, and refuses bad input at once', async () => {
    const { provider } = await setup(undefined, undefined, { deployTimeoutMs: 60_000 });
    expect(await outcome(provider.deploy(req('quick')))).toBe('ok');
    expect(await outcome(provider.deploy(req('', 100)))).toBe('INVALID_ARGUMENT');
  });
});

/**
 * The instance tracker, the watch fan-out, the reconciler and the instance
 * service over in-memory versions of the core's ports.
 */
import { describe, expect, it } from 'vitest';
import { InstanceTracker, type InstanceEvent } from './instance-tracker.js';
import { InstanceWatchHub, type WatchItem } from './instance-watch.js';
import { InstanceService } from './instance-service.js';
import { Reconciler } from './reconciler.js';
import { Ledger } from './ledger.js';
import { Session } from './session.js';
import { MemorySessionStore } from './memory-session-store.js';
import type { ObservedJob, ObservedPod, ObservedWorkloads } from './instances.js';
import type { DeleteOptions, DeleteOutcome, Logger, WorkloadChange, WorkloadRef, WorkloadRuntime, WorkloadView } from './ports.js';

const R = (cpu: number, memory = 0, gpu = 0) => ({ cpu, memory, gpu });
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}
function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The cluster in memory: a view with change payloads and a runtime whose deletes take effect at once. */
class MemoryCluster implements WorkloadView, WorkloadRuntime {
  pods = new Map<string, ObservedPod>();
  jobs = new Map<string, ObservedJob>();
  deletes: Array<{ ref: WorkloadRef; options: DeleteOptions }> = [];
  failDeletes = 0;
  private listeners = new Set<(c: WorkloadChange) => void>();
  private memo: ObservedWorkloads | undefined;

  snapshot = (): ObservedWorkloads => (this.memo ??= { pods: [...this.pods.values()], jobs: [...this.jobs.values()] });
  synced = (): boolean => true;
  onChange = (l: (c: WorkloadChange) => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  putPod(p: ObservedPod): void {
    const type = this.pods.has(p.name) ? 'modified' : 'added';
    this.pods.set(p.name, p);
    this.memo = undefined;
    for (const l of this.listeners) l({ type, kind: 'Pod', object: p });
  }

  putJob(j: ObservedJob): void {
    const type = this.jobs.has(j.name) ? 'modified' : 'added';
    this.jobs.set(j.name, j);
    this.memo = undefined;
    for (const l of this.listeners) l({ type, kind: 'Job', object: j });
  }

  removePod(name: string): void {
    const p = this.pods.get(name);
    if (!p) return;
    this.pods.delete(name);
    this.memo = undefined;
    for (const l of this.listeners) l({ type: 'deleted', kind: 'Pod', object: p });
  }

  relist(): void {
    this.memo = undefined;
    for (const l of this.listeners) l({ type: 'reset', kind: 'Pod' });
  }

  async create(): Promise<{ name: string; claims: readonly string[] }> {
    throw new Error('not used');
  }

  claimNames(): readonly string[] {
    return [];
  }

  async scale(): Promise<void> {
    throw new Error('not used');
  }

  async lookup(): Promise<undefined> {
    return undefined;
  }

  async delete(ref: WorkloadRef, options: DeleteOptions): Promise<DeleteOutcome> {
    await tick();
    this.deletes.push({ ref, options });
    if (this.failDeletes > 0) {
      this.failDeletes--;
      throw new Error('API server unavailable');
    }
    if (ref.kind === 'Job') {
      const j = this.jobs.get(ref.name);
      if (!j || (ref.uid && j.uid !== ref.uid)) return 'gone';
      this.jobs.delete(ref.name);
      this.memo = undefined;
      for (const l of this.listeners) l({ type: 'deleted', kind: 'Job', object: j });
      for (const p of [...this.pods.values()]) if (p.jobName === ref.name) this.removePod(p.name);
      return 'deleted';
    }
    const p = this.pods.get(ref.name);
    if (!p || (ref.uid && p.uid !== ref.uid)) return 'gone';
    this.removePod(ref.name);
    return 'deleted';
  }
}

const pod = (name: string, over: Partial<ObservedPod> = {}): ObservedPod => ({
  name,
  instanceId: name,
  phase: 'Running',
  requests: R(100, 1000),
  terminating: false,
  uid: `${name}-uid`,
  createdAt: 0,
  ...over,
});

function setup(options: { stuckAfterMs?: number; bufferSize?: number; keepRemovedMs?: number; maxRemoved?: number } = {}) {
  const cluster = new MemoryCluster();
  const clock = {
    t: 1000,
    now(): number {
      return this.t;
    },
  };
  const tracker = new InstanceTracker(cluster, clock, {
    stuckAfterMs: options.stuckAfterMs ?? 60_000,
    keepRemovedMs: options.keepRemovedMs ?? 0,
    maxRemoved: options.maxRemoved ?? 0,
  });
  tracker.start();
  const events: InstanceEvent[] = [];
  tracker.onEvent((e) => events.push(e));
  const hub = new InstanceWatchHub(tracker, { bufferSize: options.bufferSize ?? 100 });
  return { cluster, clock, tracker, events, hub };
}

describe('InstanceTracker', () => {
  it('reports each change with the instance it touched, and nothing when nothing visible changed', () => {
    const { cluster, tracker, events } = setup();
    cluster.putPod(pod('a', { phase: 'Pending' }));
    cluster.putPod(pod('a', { phase: 'Running' }));
    cluster.putPod(pod('a', { phase: 'Running' })); // same status: no event
    cluster.removePod('a');
    expect(events.map((e) => `${e.type}:${e.instance.id}:${e.instance.phase}`)).toEqual(['added:a:Pending', 'modified:a:Running', 'deleted:a:Running']);
    expect(tracker.size()).toBe(0);
  });

  it('moves a pod whose instance id changed, and lists by id', () => {
    const { cluster, tracker } = setup();
    cluster.putPod(pod('b'));
    cluster.putPod(pod('a'));
    cluster.putPod({ ...pod('b'), instanceId: 'c' });
    expect(tracker.list().map((s) => s.id)).toEqual(['a', 'c']);
  });

  it('turns a pending instance stuck when its time comes, with no change in the cluster, and the books release it', () => {
    const { cluster, clock, tracker, events } = setup({ stuckAfterMs: 5000 });
    const ledger = new Ledger(cluster, clock, { unseenTtlMs: 60_000, released: () => tracker.stuck() });
    cluster.putPod(pod('u', { phase: 'Pending', unschedulable: { since: 1000, message: 'no room' } }));
    expect(ledger.used()).toEqual(R(100, 1000));
    clock.t = 5999;
    tracker.tick();
    expect(tracker.isStuck('u')).toBe(false);
    clock.t = 6000;
    tracker.tick();
    expect(tracker.get('u')).toMatchObject({ phase: 'Failed', stuck: true, reason: 'Unschedulable' });
    expect(events.at(-1)).toMatchObject({ type: 'modified', instance: { id: 'u', stuck: true } });
    expect(ledger.used()).toEqual(R(0));
    expect(ledger.liveCount()).toBe(0);
  });

  it('keeps a stuck instance listed for a while after its workload is deleted, and forgets it when the id is deployed again', () => {
    const { cluster, clock, tracker, events } = setup({ stuckAfterMs: 0, keepRemovedMs: 5000, maxRemoved: 2 });
    const stuckPod = (name: string): ObservedPod => pod(name, { phase: 'Pending', unschedulable: { since: 0, message: 'no room' } });
    cluster.putPod(stuckPod('s1'));
    cluster.removePod('s1');
    expect(tracker.get('s1')).toMatchObject({ phase: 'Failed', stuck: true, reason: 'Unschedulable' });
    expect(events.map((e) => e.type)).toEqual(['added']);
    clock.t += 1000;
    for (const name of ['s2', 's3']) {
      cluster.putPod(stuckPod(name));
      cluster.removePod(name);
    }
    // Beyond maxRemoved the oldest goes.
    expect(tracker.list().map((s) => s.id)).toEqual(['s2', 's3']);
    expect(events.at(-1)).toMatchObject({ type: 'deleted', instance: { id: 's1' } });
    tracker.forget('s3');
    expect(tracker.get('s3')).toBeUndefined();
    cluster.putPod(stuckPod('s3'));
    cluster.removePod('s3');
    cluster.putPod(pod('s2'));
    expect(tracker.get('s2')).toMatchObject({ phase: 'Running', stuck: false });
    cluster.removePod('s2');
    expect(tracker.get('s2')).toBeUndefined();
    clock.t += 5000;
    tracker.tick();
    expect(tracker.size()).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'deleted', instance: { id: 's3', stuck: true } });
  });

  it('rebuilds after a relist and reports just what changed meanwhile', () => {
    const { cluster, tracker, events } = setup();
    cluster.putPod(pod('a'));
    cluster.putPod(pod('gone'));
    const before = events.length;
    cluster.pods.set('b', pod('b'));
    cluster.pods.set('a', pod('a', { phase: 'Succeeded' }));
    cluster.pods.delete('gone');
    cluster.relist();
    expect(tracker.list().map((s) => s.id)).toEqual(['a', 'b']);
    expect(
      events
        .slice(before)
        .map((e) => `${e.type}:${e.instance.id}`)
        .sort(),
    ).toEqual(['added:b', 'deleted:gone', 'modified:a']);
    cluster.relist(); // nothing changed: nothing to say
    expect(events.length).toBe(before + 3);
  });
});

async function take(it: AsyncIterator<WatchItem>, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { value } = await it.next();
    out.push(value.type === 'synced' || value.type === 'resync' ? value.type : `${value.type}:${value.instance.id}`);
  }
  return out;
}

describe('InstanceWatchHub', () => {
  it('sends a snapshot, a synced marker, then each change', async () => {
    const { cluster, hub } = setup();
    cluster.putPod(pod('a'));
    const sub = hub.subscribe();
    const it = sub[Symbol.asyncIterator]();
    expect(await take(it, 2)).toEqual(['added:a', 'synced']);
    cluster.putPod(pod('b'));
    cluster.putPod(pod('a', { phase: 'Succeeded' }));
    cluster.removePod('b');
    expect(await take(it, 3)).toEqual(['added:b', 'modified:a', 'deleted:b']);
    sub.close();
    expect((await it.next()).done).toBe(true);
    expect(hub.stats().watchers).toBe(0);
  });

  it('gives a watcher that falls behind a resync and a fresh snapshot instead of unbounded memory', async () => {
    const { cluster, hub } = setup({ bufferSize: 16 });
    cluster.putPod(pod('keep'));
    const slow = hub.subscribe();
    const fast = hub.subscribe();
    const fastIt = fast[Symbol.asyncIterator]();
    expect(await take(fastIt, 2)).toEqual(['added:keep', 'synced']);
    for (let i = 0; i < 100; i++) {
      cluster.putPod(pod(`p${String(i).padStart(3, '0')}`));
      expect(slow.pending()).toBeLessThanOrEqual(16 + 1 + 2 + i + 1); // snapshot + live changes, never unbounded
      // The fast one keeps up.
      expect(await take(fastIt, 1)).toEqual([`added:p${String(i).padStart(3, '0')}`]);
    }
    const it = slow[Symbol.asyncIterator]();
    expect(await take(it, 1)).toEqual(['resync']);
    // The fresh snapshot as of the last overflow, then the changes since, together: every instance, nothing lost.
    const snapshot: string[] = [];
    for (let [item] = await take(it, 1); item !== 'synced'; [item] = await take(it, 1)) snapshot.push(item!);
    expect(slow.pending()).toBeLessThanOrEqual(16);
    const live = await take(it, slow.pending());
    const all = ['added:keep', ...Array.from({ length: 100 }, (_, i) => `added:p${String(i).padStart(3, '0')}`)];
    expect(snapshot).toEqual([...snapshot].sort());
    expect([...snapshot, ...live].sort()).toEqual(all.sort());
    expect(hub.stats().resyncs).toBeGreaterThanOrEqual(5);
    slow.close();
    fast.close();
  });

  it('passes on only what a relist changed, and ends every watch on close', async () => {
    const { cluster, hub } = setup();
    cluster.putPod(pod('a'));
    const sub = hub.subscribe();
    const it = sub[Symbol.asyncIterator]();
    expect(await take(it, 2)).toEqual(['added:a', 'synced']);
    cluster.pods.set('x', pod('x'));
    cluster.relist();
    expect(await take(it, 1)).toEqual(['added:x']);
    expect(sub.pending()).toBe(0);
    hub.close();
    expect((await it.next()).done).toBe(true);
  });
});

describe('Reconciler', () => {
  function withReconciler(options: { deleteStuck?: boolean; keepFinishedMs?: number; maxFinished?: number } = {}) {
    const s = setup({ stuckAfterMs: 1000 });
    const log = recorder();
    const stuck: string[] = [];
    const reconciler = new Reconciler(
      { tracker: s.tracker, runtime: s.cluster, clock: s.clock, log, observer: { instanceStuck: (r) => void stuck.push(r) } },
      {
        deleteStuck: options.deleteStuck ?? true,
        retention: { keepFinishedMs: options.keepFinishedMs ?? 60_000, maxFinished: options.maxFinished ?? 100 },
        retryMs: 5,
      },
    );
    reconciler.start();
    return { ...s, log, stuck, reconciler };
  }

  it('reports a stuck instance once (log line and counter) and deletes it with its uid', async () => {
    const { cluster, clock, tracker, log, stuck, reconciler } = withReconciler();
    cluster.putPod(
      pod('img', {
        phase: 'Pending',
        node: 'n',
        notReadySince: 1000,
        container: { ready: false, restartCount: 0, waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope"' } },
      }),
    );
    clock.t = 2000;
    tracker.tick();
    tracker.tick();
    await tick(5);
    expect(stuck).toEqual(['ImagePullBackOff']);
    expect(log.lines.filter((l) => l.msg === 'instance stuck')).toHaveLength(1);
    expect(log.lines.find((l) => l.msg === 'instance stuck')?.obj).toMatchObject({ instanceId: 'img', reason: 'ImagePullBackOff' });
    expect(cluster.deletes).toEqual([{ ref: { kind: 'Pod', name: 'img', uid: 'img-uid' }, options: { propagation: 'Background' } }]);
    expect(tracker.get('img')).toBeUndefined();
    reconciler.stop();
  });

  it('keeps a stuck instance when delete_stuck is false, still reporting it', async () => {
    const { cluster, tracker, stuck, reconciler } = withReconciler({ deleteStuck: false });
    cluster.putPod(
      pod('bad', {
        phase: 'Pending',
        node: 'n',
        notReadySince: 1000,
        container: { ready: false, restartCount: 0, waiting: { reason: 'InvalidImageName', message: '' } },
      }),
    );
    await tick(5);
    expect(stuck).toEqual(['InvalidImageName']);
    expect(cluster.deletes).toEqual([]);
    expect(tracker.get('bad')).toMatchObject({ phase: 'Failed', stuck: true });
    reconciler.stop();
  });

  it('removes finished Jobs as their policy says, through the runtime, in the background', async () => {
    const { cluster, log, reconciler } = withReconciler();
    const job = (name: string, policy: ObservedJob['cleanupPolicy'], finished: ObservedJob['finished']): ObservedJob => ({
      name,
      instanceId: name,
      finished,
      podRequests: R(1),
      uid: `${name}-uid`,
      cleanupPolicy: policy,
      finishedAt: 1000,
    });
    cluster.putJob(job('ok', 'OnSuccess', 'Complete'));
    cluster.putJob(job('kept', 'OnSuccess', 'Failed'));
    cluster.putJob(job('fail', 'OnFailure', 'Failed'));
    await tick(5);
    expect(cluster.deletes.map((d) => [d.ref.name, d.ref.uid, d.options.propagation])).toEqual([
      ['ok', 'ok-uid', 'Background'],
      ['fail', 'fail-uid', 'Background'],
    ]);
    expect(log.lines.filter((l) => l.msg === 'finished job cleaned up').map((l) => [l.obj.job, l.obj.outcome, l.obj.policy])).toEqual([
      ['ok', 'Complete', 'OnSuccess'],
      ['fail', 'Failed', 'OnFailure'],
    ]);
    expect([...cluster.jobs.keys()]).toEqual(['kept']);
    reconciler.stop();
  });

  it('removes kept finished workloads beyond max_finished at once and the rest after keep_finished_seconds', async () => {
    const { cluster, clock, log, reconciler } = withReconciler({ keepFinishedMs: 50, maxFinished: 2 });
    for (const [name, at] of [
      ['f1', 990],
      ['f2', 995],
      ['f3', 1000],
    ] as const) {
      cluster.putPod(
        pod(name, {
          phase: 'Succeeded',
          container: { ready: false, restartCount: 0, terminated: { exitCode: 0, reason: 'Completed', message: '', startedAt: 0, finishedAt: at } },
        }),
      );
    }
    cluster.putPod(pod('live'));
    await tick(5);
    expect(cluster.deletes.map((d) => d.ref.name)).toEqual(['f1']);
    clock.t = 1100;
    await tick(80);
    expect(cluster.deletes.map((d) => d.ref.name).sort()).toEqual(['f1', 'f2', 'f3']);
    expect([...cluster.pods.keys()]).toEqual(['live']);
    expect(log.lines.filter((l) => l.msg === 'finished instance removed').map((l) => [l.obj.instanceId, l.obj.cause])).toEqual([
      ['f1', 'count'],
      ['f2', 'age'],
      ['f3', 'age'],
    ]);
    reconciler.stop();
  });

  it('retries a delete that failed', async () => {
    const { cluster, log, reconciler } = withReconciler();
    cluster.failDeletes = 1;
    cluster.putJob({ name: 'j', instanceId: 'j', finished: 'Complete', podRequests: R(1), cleanupPolicy: 'Always' });
    await tick(30);
    expect(cluster.deletes).toHaveLength(2);
    expect(cluster.jobs.size).toBe(0);
    expect(log.lines.some((l) => l.msg === 'could not delete; will retry')).toBe(true);
    reconciler.stop();
  });
});

describe('InstanceService', () => {
  function service() {
    const s = setup();
    const log = recorder();
    const session = new Session(new MemorySessionStore(), s.clock, 90_000, log);
    const ledger = new Ledger(s.cluster, s.clock, { unseenTtlMs: 60_000 });
    const usage = { current: () => ({ total: R(0), perInstance: new Map([['a', R(42, 7)]]), source: 'metrics' as const, sampledAt: 999, stale: false }) };
    const logs = {
      stream: async function* () {
        yield ['line'];
      },
    };
    const svc = new InstanceService({
      session,
      tracker: s.tracker,
      hub: s.hub,
      view: s.cluster,
      ledger,
      runtime: s.cluster,
      usage,
      logs,
      settled: async () => undefined,
      scale: async () => {
        throw new Error('not used');
      },
      log,
    });
    return { ...s, session, svc, log };
  }

  it('needs the connected provider for every call', async () => {
    const { svc, session } = service();
    expect(() => svc.get('cp', 'a')).toThrow(/no control plane is connected/);
    await session.connect('cp');
    expect(() => svc.list({ providerId: 'other', phases: [], kind: undefined, pageSize: 0, pageToken: '' })).toThrow(/is not the connected provider/);
    await expect(svc.undeploy({ providerId: '', instanceId: 'a', graceSeconds: undefined, propagation: undefined })).rejects.toMatchObject({
      kind: 'PERMISSION_DENIED',
    });
    expect(() => svc.get('cp', 'nope')).toThrow(/instance "nope" does not exist/);
  });

  it('lists by id in pages, filtered by phase and kind, with the usage sample', async () => {
    const { svc, session, cluster } = service();
    await session.connect('cp');
    for (const id of ['e', 'a', 'd', 'c', 'b']) cluster.putPod(pod(id, { phase: id === 'c' ? 'Pending' : 'Running' }));
    cluster.putJob({ name: 'j', instanceId: 'j', finished: undefined, podRequests: R(1) });
    const page1 = svc.list({ providerId: 'cp', phases: ['Running'], kind: 'Pod', pageSize: 2, pageToken: '' });
    expect(page1.instances.map((i) => i.id)).toEqual(['a', 'b']);
    expect(page1.totalSize).toBe(4);
    expect(page1.instances[0]?.usage).toEqual({ resources: R(42, 7), sampledAt: 999, source: 'metrics', stale: false });
    cluster.putPod(pod('aa')); // inserted before the cursor: does not shift the next page
    const page2 = svc.list({ providerId: 'cp', phases: ['Running'], kind: 'Pod', pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2.instances.map((i) => i.id)).toEqual(['d', 'e']);
    expect(page2.nextPageToken).toBe('');
    expect(() => svc.list({ providerId: 'cp', phases: [], kind: undefined, pageSize: 2, pageToken: page1.nextPageToken })).toThrow(/other filters/);
    expect(() => svc.list({ providerId: 'cp', phases: [], kind: undefined, pageSize: 2, pageToken: 'garbage!' })).toThrow(/not a token/);
    expect(() => svc.list({ providerId: 'cp', phases: [], kind: undefined, pageSize: 1001, pageToken: '' })).toThrow(/page_size/);
    expect(svc.list({ providerId: 'cp', phases: [], kind: 'Job', pageSize: 0, pageToken: '' }).instances.map((i) => i.id)).toEqual(['j']);
  });

  it('undeploys once and then says it was already gone', async () => {
    const { svc, session, cluster } = service();
    await session.connect('cp');
    cluster.putPod(pod('a'));
    const first = await svc.undeploy({ providerId: 'cp', instanceId: 'a', graceSeconds: 0, propagation: 'Foreground' });
    expect(first).toMatchObject({ deleted: true, kind: 'Pod', workloadName: 'a' });
    expect(cluster.deletes[0]).toEqual({ ref: { kind: 'Pod', name: 'a', uid: 'a-uid' }, options: { propagation: 'Foreground', graceSeconds: 0 } });
    const again = await svc.undeploy({ providerId: 'cp', instanceId: 'a', graceSeconds: undefined, propagation: undefined });
    expect(again).toEqual({ deleted: false, kind: undefined, workloadName: '', instance: undefined });
    await expect(svc.undeploy({ providerId: 'cp', instanceId: 'a', graceSeconds: -1, propagation: undefined })).rejects.toMatchObject({
      kind: 'INVALID_ARGUMENT',
    });
  });

  it('ends a watch at its next change once the session is gone', async () => {
    const { svc, session, cluster } = service();
    await session.connect('cp');
    const it = svc.watch('cp')[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual({ type: 'synced' });
    await session.disconnect('cp');
    cluster.putPod(pod('late'));
    await expect(it.next()).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION' });
  });

  it('refuses logs of an instance that has not started, before any API call', async () => {
    const { svc, session, cluster } = service();
    await session.connect('cp');
    cluster.putPod(pod('p', { phase: 'Pending', unschedulable: { since: 1000, message: 'no node fits' } }));
    const read = async () => {
      for await (const _ of svc.logs({ providerId: 'cp', instanceId: 'p' }, new AbortController().signal)) void _;
    };
    await expect(read()).rejects.toMatchObject({
      kind: 'FAILED_PRECONDITION',
      message: expect.stringContaining('has not started (Pending: Unschedulable (no node fits))'),
    });
    cluster.putPod(pod('r', { node: 'n', startedAt: 1 }));
    const batches: unknown[] = [];
    for await (const b of svc.logs({ providerId: 'cp', instanceId: 'r', tailLines: 5 }, new AbortController().signal)) batches.push(b);
    expect(batches).toEqual([{ podName: 'r', lines: ['line'] }]);
  });
});

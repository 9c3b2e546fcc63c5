/**
 * Property test: the books follow the view one change at a time, and after
 * any sequence of watch events on pods, jobs, Deployments and claims (adds,
 * updates that move an object to another instance, deletes, relists), with
 * any stuck instances and reservations, they equal the full recompute over
 * the snapshot: the instances, cpu/memory/gpu and the storage books.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deriveInstances,
  isLive,
  type ObservedClaim,
  type ObservedDeployment,
  type ObservedJob,
  type ObservedPod,
  type ObservedWorkloads,
  type PodPhase,
} from './instances.js';
import { Ledger } from './ledger.js';
import type { WorkloadChange, WorkloadView } from './ports.js';
import { add, sum, type Resources } from './resources.js';
import { storageHeld, type StorageUsed } from './storage.js';

/** A view whose collections change by events, like the informer-backed cache. */
class EventView implements WorkloadView {
  readonly pods = new Map<string, ObservedPod>();
  readonly jobs = new Map<string, ObservedJob>();
  readonly deployments = new Map<string, ObservedDeployment>();
  readonly claims = new Map<string, ObservedClaim>();
  private readonly listeners = new Set<(c: WorkloadChange) => void>();
  private memo: ObservedWorkloads | undefined;

  snapshot = (): ObservedWorkloads =>
    (this.memo ??= {
      pods: [...this.pods.values()],
      jobs: [...this.jobs.values()],
      deployments: [...this.deployments.values()],
      claims: [...this.claims.values()],
    });
  synced = (): boolean => true;
  onChange = (l: (c: WorkloadChange) => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  apply(step: Step): void {
    this.memo = undefined;
    if (step.op === 'reset') {
      // A relist: the collection is replaced wholesale (some objects gone, some changed), then announced once.
      for (const p of step.pods) this.pods.set(p.name, p);
      for (const name of step.dropPods) this.pods.delete(name);
      for (const j of step.jobs) this.jobs.set(j.name, j);
      for (const d of step.deployments) this.deployments.set(d.name, d);
      for (const name of step.dropClaims) this.claims.delete(name);
      this.emit({ type: 'reset', kind: step.kind });
      return;
    }
    if (step.op === 'pod') this.change('Pod', this.pods, step.pod, step.delete);
    else if (step.op === 'job') this.change('Job', this.jobs, step.job, step.delete);
    else if (step.op === 'deployment') this.change('Deployment', this.deployments, step.deployment, step.delete);
    else this.change('Claim', this.claims, step.claim, step.delete);
  }

  private change<O extends ObservedPod | ObservedJob | ObservedDeployment | ObservedClaim>(
    kind: WorkloadChange['kind'],
    map: Map<string, O>,
    object: O,
    remove: boolean,
  ): void {
    const old = map.get(object.name);
    if (remove) {
      if (!old) return; // the API never deletes what is not there
      map.delete(old.name);
      this.emit({ type: 'deleted', kind, object: old } as WorkloadChange);
      return;
    }
    map.set(object.name, object);
    this.emit({ type: old ? 'modified' : 'added', kind, object } as WorkloadChange);
  }

  private emit(c: WorkloadChange): void {
    for (const l of this.listeners) l(c);
  }
}

// Few names and ids, so events hit the same objects and instances again and again.
const ids = fc.constantFrom('a', 'b', 'c', 'd');
const podNames = fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6');
const jobNames = fc.constantFrom('j1', 'j2', 'j3');
const deploymentNames = fc.constantFrom('d1', 'd2', 'd3');
const claimNames = fc.constantFrom('c1', 'c2', 'c3');
const bytes = fc.integer({ min: 0, max: 2 ** 40 });
const resources: fc.Arbitrary<Resources> = fc.record({
  cpu: fc.integer({ min: 0, max: 4000 }),
  memory: fc.integer({ min: 0, max: 2 ** 40 }),
  gpu: fc.integer({ min: 0, max: 2 }),
});
const phase = fc.constantFrom<PodPhase>('Pending', 'Running', 'Succeeded', 'Failed', 'Unknown');
const observedPod: fc.Arbitrary<ObservedPod> = fc.record(
  {
    name: podNames,
    instanceId: ids,
    phase,
    requests: resources,
    terminating: fc.boolean(),
    jobName: jobNames,
    ownerKind: fc.constant('ReplicaSet'),
    ephemeralStorage: bytes,
    specHash: fc.constantFrom('h1', 'h2'),
  },
  { requiredKeys: ['name', 'instanceId', 'phase', 'requests', 'terminating'] },
);
const observedJob: fc.Arbitrary<ObservedJob> = fc.record(
  {
    name: jobNames,
    instanceId: ids,
    finished: fc.constantFrom<ObservedJob['finished']>(undefined, 'Complete', 'Failed'),
    podRequests: resources,
    terminating: fc.boolean(),
    podEphemeralStorage: bytes,
    specHash: fc.constantFrom('h1', 'h2'),
  },
  { requiredKeys: ['name', 'instanceId', 'finished', 'podRequests'] },
);
const observedDeployment: fc.Arbitrary<ObservedDeployment> = fc.record(
  {
    name: deploymentNames,
    instanceId: ids,
    replicas: fc.integer({ min: 0, max: 3 }),
    readyReplicas: fc.integer({ min: 0, max: 3 }),
    podRequests: resources,
    podEphemeralStorage: bytes,
    terminating: fc.boolean(),
    specHash: fc.constantFrom('h1', 'h2'),
  },
  { requiredKeys: ['name', 'instanceId', 'replicas', 'readyReplicas', 'podRequests'] },
);
const observedClaim: fc.Arbitrary<ObservedClaim> = fc.record({
  name: claimNames,
  instanceId: ids,
  volume: fc.constantFrom('data', 'logs'),
  sizeBytes: bytes,
  storageClass: fc.constant('fast'),
  phase: fc.constantFrom('Pending', 'Bound'),
  retain: fc.boolean(),
  terminating: fc.boolean(),
});

type Step =
  | { op: 'pod'; pod: ObservedPod; delete: boolean }
  | { op: 'job'; job: ObservedJob; delete: boolean }
  | { op: 'deployment'; deployment: ObservedDeployment; delete: boolean }
  | { op: 'claim'; claim: ObservedClaim; delete: boolean }
  | {
      op: 'reset';
      kind: WorkloadChange['kind'];
      pods: ObservedPod[];
      dropPods: string[];
      jobs: ObservedJob[];
      deployments: ObservedDeployment[];
      dropClaims: string[];
    };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('pod' as const), pod: observedPod, delete: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('job' as const), job: observedJob, delete: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('deployment' as const), deployment: observedDeployment, delete: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('claim' as const), claim: observedClaim, delete: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('reset' as const),
      kind: fc.constantFrom<WorkloadChange['kind']>('Pod', 'Job', 'Deployment', 'Claim'),
      pods: fc.array(observedPod, { maxLength: 4 }),
      dropPods: fc.array(podNames, { maxLength: 3 }),
      jobs: fc.array(observedJob, { maxLength: 2 }),
      deployments: fc.array(observedDeployment, { maxLength: 2 }),
      dropClaims: fc.array(claimNames, { maxLength: 2 }),
    }),
  },
);

/** What a read of the books must give: the full recompute, minus what is released, plus reservations. */
function expected(
  view: WorkloadView,
  released: ReadonlySet<string>,
  reserved: ReadonlyMap<string, Resources>,
): { used: Resources; live: number; storage: StorageUsed } {
  const all = [...deriveInstances(view.snapshot()).values()].filter((i) => !released.has(i.id));
  const held = storageHeld(view.snapshot());
  let ephemeral = 0;
  for (const [id, n] of held.ephemeral) if (!released.has(id)) ephemeral += n;
  return {
    used: add(sum(all.map((i) => i.holds)), sum(reserved.values())),
    live: all.filter(isLive).length + reserved.size,
    storage: { ephemeral, claimed: held.claimed },
  };
}

describe('Ledger, incremental', () => {
  it('equals the full recompute after every event of any sequence (2000 runs)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.subarray(['a', 'b', 'c', 'd']), (steps, stuck) => {
        const view = new EventView();
        const released = new Set<string>(stuck);
        const ledger = new Ledger(view, { now: () => 0 }, { unseenTtlMs: 60_000, released: () => released });
        for (const s of steps) {
          view.apply(s);
          expect(new Map(ledger.instances())).toEqual(deriveInstances(view.snapshot()));
          const want = expected(view, released, new Map());
          expect(ledger.used()).toEqual(want.used);
          expect(ledger.liveCount()).toBe(want.live);
          expect(ledger.storageUsed()).toEqual(want.storage);
        }
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('counts a reservation until its instance is first seen, before or after the create answers, whatever events come in between (1000 runs)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), ids, resources, fc.nat({ max: 30 }), (steps, id, r, createdAt) => {
        const view = new EventView();
        const ledger = new Ledger(view, { now: () => 0 }, { unseenTtlMs: 60_000 });
        const inView = (): boolean => deriveInstances(view.snapshot()).has(id);
        ledger.reserve(id, 'h', r);
        let dropped = false;
        for (const [k, s] of steps.entries()) {
          if (k === createdAt) ledger.markCreated(id);
          view.apply(s);
          // Seen once (the watch may beat the create's answer): the cluster's figure counts from then on, even if
          // the workload is gone again.
          dropped ||= inView();
          const want = expected(view, new Set(), dropped ? new Map() : new Map([[id, r]]));
          expect(ledger.used()).toEqual(want.used);
          expect(ledger.liveCount()).toBe(want.live);
          expect(ledger.reservedCount()).toBe(dropped ? 0 : 1);
        }
      }),
      { numRuns: 1000 },
    );
  }, 60_000);

  it('is the same whether it starts before the first event or after a relist', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const view = new EventView();
        const early = new Ledger(view, { now: () => 0 }, { unseenTtlMs: 60_000 });
        for (const s of steps) view.apply(s);
        const late = new Ledger(view, { now: () => 0 }, { unseenTtlMs: 60_000 });
        expect(new Map(early.instances())).toEqual(new Map(late.instances()));
        expect(early.used()).toEqual(late.used());
        expect(early.storageUsed()).toEqual(late.storageUsed());
        expect(early.used()).toEqual(expected(view, new Set(), new Map()).used);
      }),
      { numRuns: 500 },
    );
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import { deriveInstances, type ObservedJob, type ObservedPod } from './instances.js';
import { Ledger } from './ledger.js';
import type { ObservedWorkloads } from './instances.js';
import type { WorkloadChange } from './ports.js';

const R = (cpu: number, memory = 0, gpu = 0) => ({ cpu, memory, gpu });
const pod = (over: Partial<ObservedPod> & Pick<ObservedPod, 'name' | 'instanceId'>): ObservedPod => ({
  phase: 'Running',
  requests: R(100, 1000),
  terminating: false,
  ...over,
});
const job = (over: Partial<ObservedJob> & Pick<ObservedJob, 'name' | 'instanceId'>): ObservedJob => ({
  finished: undefined,
  podRequests: R(200, 2000),
  ...over,
});

describe('deriveInstances', () => {
  it('counts a pod until it has Succeeded, Failed or is gone', () => {
    const out = deriveInstances({
      pods: [
        pod({ name: 'a', instanceId: 'a', phase: 'Pending' }),
        pod({ name: 'b', instanceId: 'b', phase: 'Running' }),
        pod({ name: 'c', instanceId: 'c', phase: 'Succeeded' }),
        pod({ name: 'd', instanceId: 'd', phase: 'Failed' }),
        pod({ name: 'e', instanceId: 'e', phase: 'Running', terminating: true }),
      ],
      jobs: [],
    });
    expect([...out.values()].map((i) => [i.id, i.phase, i.holds.cpu])).toEqual([
      ['a', 'Pending', 100],
      ['b', 'Running', 100],
      ['c', 'Succeeded', 0],
      ['d', 'Failed', 0],
      ['e', 'Terminating', 100],
    ]);
  });

  it('holds one pod of an unfinished Job even between its pods, and nothing once it finished', () => {
    const out = deriveInstances({
      pods: [
        pod({ name: 'j1-abc', instanceId: 'j1', jobName: 'j1', phase: 'Failed' }),
        pod({ name: 'j2-abc', instanceId: 'j2', jobName: 'j2', phase: 'Running', requests: R(200, 2000) }),
        pod({ name: 'j3-abc', instanceId: 'j3', jobName: 'j3', phase: 'Succeeded' }),
      ],
      jobs: [
        job({ name: 'j1', instanceId: 'j1' }),
        job({ name: 'j2', instanceId: 'j2' }),
        job({ name: 'j3', instanceId: 'j3', finished: 'Complete' }),
        job({ name: 'j4', instanceId: 'j4', finished: 'Failed' }),
      ],
    });
    expect(Object.fromEntries([...out.values()].map((i) => [i.id, [i.kind, i.phase, i.holds.cpu]]))).toEqual({
      j1: ['Job', 'Pending', 200], // retrying: the next pod will need the room
      j2: ['Job', 'Running', 200],
      j3: ['Job', 'Succeeded', 0],
      j4: ['Job', 'Failed', 0],
    });
  });

  it('counts pods of a Job it does not see yet', () => {
    const out = deriveInstances({ pods: [pod({ name: 'x-1', instanceId: 'x', jobName: 'x' })], jobs: [] });
    expect(out.get('x')).toMatchObject({ kind: 'Job', name: 'x', phase: 'Running', holds: R(100, 1000) });
  });
});

describe('Ledger', () => {
  class View {
    private listeners: Array<(c: WorkloadChange) => void> = [];
    private value: ObservedWorkloads = { pods: [], jobs: [] };
    get current(): ObservedWorkloads {
      return this.value;
    }
    /** Like a watch: every change is announced. */
    set current(v: ObservedWorkloads) {
      this.value = v;
      for (const l of this.listeners) l({ type: 'reset', kind: 'Pod' });
    }
    snapshot = (): ObservedWorkloads => this.value;
    synced = (): boolean => true;
    onChange = (l: (c: WorkloadChange) => void): (() => void) => {
      this.listeners.push(l);
      return () => {};
    };
  }
  const clock = {
    t: 0,
    now(): number {
      return this.t;
    },
  };

  it('adds reservations to what the cluster shows until the workload is seen', () => {
    const view = new View();
    const ledger = new Ledger(view, clock, { unseenTtlMs: 60_000 });
    view.current = { pods: [pod({ name: 'a', instanceId: 'a' })], jobs: [] };
    ledger.reserve('b', 'h', R(300, 3000));
    expect(ledger.used()).toEqual(R(400, 4000));
    expect(ledger.liveCount()).toBe(2);
    ledger.markCreated('b');
    expect(ledger.used()).toEqual(R(400, 4000)); // created but not yet visible: still held
    view.current = { pods: [...view.current.pods, pod({ name: 'b', instanceId: 'b', requests: R(300, 3000) })], jobs: [] };
    expect(ledger.used()).toEqual(R(400, 4000)); // now counted once, from the cluster
    expect(ledger.reservedCount()).toBe(0);
  });

  it('drops a created reservation that never shows up after the TTL, and a released one at once', () => {
    const view = new View();
    const ledger = new Ledger(view, clock, { unseenTtlMs: 60_000 });
    ledger.reserve('gone', 'h', R(100));
    ledger.markCreated('gone');
    ledger.reserve('failed', 'h', R(50));
    ledger.release('failed');
    clock.t += 60_001;
    expect(ledger.used()).toEqual(R(0));
  });

  it('drops the reservation of a workload that appeared and vanished between two reads', () => {
    const view = new View();
    const ledger = new Ledger(view, clock, { unseenTtlMs: 60_000 });
    ledger.reserve('job', 'h', R(500));
    ledger.markCreated('job');
    view.current = { pods: [], jobs: [job({ name: 'job', instanceId: 'job' })] };
    view.current = { pods: [], jobs: [] }; // finished and cleaned up before anyone read the books
    expect(ledger.used()).toEqual(R(0));
  });

  it('keeps an in-flight reservation however long the create takes', () => {
    const view = new View();
    const ledger = new Ledger(view, clock, { unseenTtlMs: 1 });
    ledger.reserve('slow', 'h', R(100));
    clock.t += 10_000;
    expect(ledger.used()).toEqual(R(100));
  });
});

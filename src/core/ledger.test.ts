/** The books' reservations against an in-memory view, in the orders a real watch and create call can interleave. */
import { describe, expect, it } from 'vitest';
import type { ObservedPod, ObservedWorkloads } from './instances.js';
import { Ledger } from './ledger.js';
import type { WorkloadChange, WorkloadView } from './ports.js';
import type { Resources } from './resources.js';

const SMALL: Resources = { cpu: 100, memory: 1 << 20, gpu: 0 };

class View implements WorkloadView {
  current: ObservedWorkloads = { pods: [], jobs: [] };
  private readonly listeners: Array<(c: WorkloadChange) => void> = [];
  snapshot = (): ObservedWorkloads => this.current;
  synced = (): boolean => true;
  onChange = (l: (c: WorkloadChange) => void): (() => void) => {
    this.listeners.push(l);
    return () => undefined;
  };
  add(instanceId: string): void {
    const pod: ObservedPod = { name: instanceId, instanceId, phase: 'Pending', requests: SMALL, terminating: false, specHash: 'h' };
    this.current = { ...this.current, pods: [...this.current.pods, pod] };
    for (const l of this.listeners) l({ type: 'added', kind: 'Pod', object: pod });
  }
}

function books(): { view: View; ledger: Ledger; clock: { t: number } } {
  const view = new View();
  const clock = { t: 0 };
  return { view, clock, ledger: new Ledger(view, { now: () => clock.t }, { unseenTtlMs: 60_000 }) };
}

describe('Ledger reservations', () => {
  it("count the pods they will add: every replica of a Deployment, and a scale-up's extra ones", () => {
    const { view, ledger } = books();
    ledger.reserve('one', 'h', SMALL);
    ledger.reserve('web', 'h', SMALL, undefined, 3);
    ledger.reserveScale('api', 5, SMALL, 0, 2);
    expect(ledger.reservedCount()).toBe(2);
    expect(ledger.reservedPods()).toBe(6);
    view.add('one');
    expect(ledger.reservedPods()).toBe(5);
    ledger.releaseScale('api');
    expect(ledger.reservedPods()).toBe(3);
  });

  it('hold the room of a create in flight', () => {
    const { ledger } = books();
    ledger.reserve('a', 'h', SMALL);
    expect(ledger.used()).toEqual(SMALL);
    expect(ledger.liveCount()).toBe(1);
  });

  it('count once when the watch shows the object after the create answered', () => {
    const { view, ledger } = books();
    ledger.reserve('a', 'h', SMALL);
    ledger.markCreated('a');
    expect(ledger.used()).toEqual(SMALL);
    view.add('a');
    expect(ledger.used()).toEqual(SMALL);
    expect(ledger.reservation('a')).toBeUndefined();
  });

  it('count once when the watch shows the object before the create call has answered', () => {
    const { view, ledger } = books();
    ledger.reserve('a', 'h', SMALL);
    view.add('a'); // the watch event is read before the create's response
    expect(ledger.used()).toEqual(SMALL);
    expect(ledger.liveCount()).toBe(1);
    ledger.markCreated('a');
    expect(ledger.used()).toEqual(SMALL);
  });

  it('lapse when the created object never shows up within the TTL, and not before', () => {
    const { ledger, clock } = books();
    ledger.reserve('a', 'h', SMALL);
    ledger.markCreated('a');
    clock.t = 60_000;
    expect(ledger.used()).toEqual(SMALL);
    clock.t = 60_001;
    expect(ledger.used()).toEqual({ cpu: 0, memory: 0, gpu: 0 });
  });

  it('never lapse while the create call is still in flight', () => {
    const { ledger, clock } = books();
    ledger.reserve('a', 'h', SMALL);
    clock.t = 10 * 60_000;
    expect(ledger.used()).toEqual(SMALL);
  });
});

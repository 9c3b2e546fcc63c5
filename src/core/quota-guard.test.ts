import { describe, expect, it } from 'vitest';
import { desiredQuota, guardedClaimed, guardedUsed, limitsEqual, podRoom, quotaReport, type QuotaStatus } from './quota-guard.js';
import { ZERO } from './resources.js';

const total = { cpu: 4000, memory: 8000, gpu: 2 };
const status = (used: { cpu?: number; memory?: number; gpu?: number; pods?: number }): QuotaStatus => ({
  name: 'q',
  desired: { cpu: 4000, memory: 8000, gpu: 2, pods: 10 },
  observed: { hard: { cpu: 4000, memory: 8000, gpu: 2, pods: 10 }, used },
});

describe('desiredQuota', () => {
  it('is the static capacity, with gpu 0 when none was promised, and the instance limit as pods', () => {
    expect(desiredQuota({ mode: 'static', cpu: 4000, memory: 8000 }, 100)).toEqual({ cpu: 4000, memory: 8000, gpu: 0, pods: 100 });
  });
  it('is only the configured caps in auto mode', () => {
    expect(desiredQuota({ mode: 'auto', cpu: 4000 }, 100)).toEqual({ cpu: 4000, memory: undefined, gpu: undefined, pods: 100, storage: undefined });
  });
  it('limits claimed storage to the storage budget when one is set, in either mode', () => {
    expect(desiredQuota({ mode: 'static', cpu: 4000, memory: 8000, storage: 2 ** 34 }, 100).storage).toBe(2 ** 34);
    expect(desiredQuota({ mode: 'auto', storage: 2 ** 30 }, undefined)).toMatchObject({ storage: 2 ** 30, pods: undefined });
  });
  it('counts a changed storage budget as a change', () => {
    expect(limitsEqual({ cpu: 1, storage: 2 }, { cpu: 1, storage: 3 })).toBe(false);
    expect(limitsEqual({ cpu: 1, storage: 2 }, { cpu: 1, storage: 2 })).toBe(true);
  });
});

describe('guardedUsed', () => {
  it('is the books when the quota is off or not counted yet', () => {
    const books = { cpu: 1000, memory: 1000, gpu: 0 };
    expect(guardedUsed(total, books, ZERO, undefined)).toEqual(books);
    expect(guardedUsed(total, books, ZERO, { ...status({}), observed: undefined })).toEqual(books);
  });

  it('counts what others hold in the namespace against available', () => {
    // The books: 1000m held by instances. The quota: 2500m used (1500m by a pod made with kubectl).
    const used = guardedUsed(total, { cpu: 1000, memory: 1000, gpu: 0 }, ZERO, status({ cpu: 2500, memory: 1000, gpu: 0 }));
    expect(used).toEqual({ cpu: 2500, memory: 1000, gpu: 0 });
  });

  it('takes reservations off the quota room, since their pods may not be counted yet', () => {
    const reserved = { cpu: 500, memory: 0, gpu: 0 };
    const used = guardedUsed(total, { cpu: 1500, memory: 0, gpu: 0 }, reserved, status({ cpu: 2500 }));
    expect(used.cpu).toBe(3000);
  });

  it('never reports less than the books, whatever the quota says', () => {
    expect(guardedUsed(total, { cpu: 3000, memory: 0, gpu: 0 }, ZERO, status({ cpu: 100 })).cpu).toBe(3000);
  });

  it('ignores resources the quota does not limit', () => {
    const s: QuotaStatus = { name: 'q', desired: { cpu: 4000 }, observed: { hard: { cpu: 4000 }, used: { cpu: 1000, memory: 99999 } } };
    expect(guardedUsed(total, ZERO, ZERO, s)).toEqual({ cpu: 1000, memory: 0, gpu: 0 });
  });

  it('follows a quota lowered below the capacity', () => {
    const s: QuotaStatus = { name: 'q', desired: { cpu: 4000 }, observed: { hard: { cpu: 1000 }, used: { cpu: 0 } } };
    expect(guardedUsed(total, ZERO, ZERO, s).cpu).toBe(3000);
  });
});

describe('guardedClaimed', () => {
  const withStorage = (used: number | undefined): QuotaStatus => ({
    name: 'q',
    desired: { storage: 100 },
    observed: { hard: { storage: 100 }, used: used === undefined ? {} : { storage: used } },
  });
  it('counts claims made around the daemon, plus the reserved claims the quota cannot count yet', () => {
    expect(guardedClaimed(10, 5, withStorage(40))).toBe(45);
  });
  it('never reports less than the books, and is the books without a storage limit or status', () => {
    expect(guardedClaimed(60, 0, withStorage(40))).toBe(60);
    expect(guardedClaimed(10, 5, undefined)).toBe(10);
    expect(guardedClaimed(10, 5, withStorage(undefined))).toBe(10);
    expect(guardedClaimed(10, 5, { name: 'q', desired: { cpu: 1 }, observed: { hard: { cpu: 1 }, used: { storage: 99 } } })).toBe(10);
  });
});

describe('podRoom and the report', () => {
  it('counts pods left, reservations off', () => {
    expect(podRoom(status({ pods: 7 }), 2)).toBe(1);
    expect(podRoom(undefined, 2)).toBeUndefined();
  });

  it('reports others as what the quota counts beyond the instances, and in force only when the hard values match', () => {
    const report = quotaReport(status({ cpu: 2500, memory: 1000, gpu: 0, pods: 3 }), { cpu: 1000, memory: 1000, gpu: 0 });
    expect(report).toEqual({
      name: 'q',
      inForce: true,
      hard: { cpu: 4000, memory: 8000, gpu: 2 },
      used: { cpu: 2500, memory: 1000, gpu: 0 },
      others: { cpu: 1500, memory: 0, gpu: 0 },
      hardPods: 10,
      usedPods: 3,
    });
    expect(quotaReport({ ...status({}), observed: { hard: { cpu: 1 }, used: {} } }, ZERO).inForce).toBe(false);
  });
});

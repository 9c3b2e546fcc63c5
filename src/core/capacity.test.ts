import { describe, expect, it } from 'vitest';
import { capacityOf, describeShortfall, shortfall } from './capacity.js';

const GI = 2 ** 30;

describe('capacityOf', () => {
  it('splits total into used and available', () => {
    expect(capacityOf({ cpu: 8000, memory: 8 * GI, gpu: 4 }, { cpu: 1500, memory: GI, gpu: 1 })).toEqual({
      total: { cpu: 8000, memory: 8 * GI, gpu: 4 },
      used: { cpu: 1500, memory: GI, gpu: 1 },
      available: { cpu: 6500, memory: 7 * GI, gpu: 3 },
      overcommitted: [],
    });
  });

  it('keeps total = used + available with nothing negative when use exceeds total, and flags it', () => {
    const report = capacityOf({ cpu: 1000, memory: GI, gpu: 0 }, { cpu: 1500, memory: 100, gpu: 2 });
    expect(report.used).toEqual({ cpu: 1000, memory: 100, gpu: 0 });
    expect(report.available).toEqual({ cpu: 0, memory: GI - 100, gpu: 0 });
    expect(report.overcommitted).toEqual(['cpu', 'gpu']);
  });
});

describe('admission maths', () => {
  it('fits exactly at the boundary', () => {
    expect(shortfall({ cpu: 500, memory: GI, gpu: 1 }, { cpu: 500, memory: GI, gpu: 1 })).toEqual([]);
    expect(shortfall({ cpu: 501, memory: GI, gpu: 1 }, { cpu: 500, memory: GI, gpu: 1 })).toEqual(['cpu']);
  });

  it('says what is missing in Kubernetes units', () => {
    expect(describeShortfall({ cpu: 500, memory: 2 * GI, gpu: 2 }, { cpu: 200, memory: 512 * 2 ** 20, gpu: 1 })).toBe(
      'needs 500m cpu, 200m cpu available; needs 2Gi memory, 512Mi memory available; needs 2 gpu, 1 gpu available',
    );
    expect(describeShortfall({ cpu: 3000, memory: 1, gpu: 0 }, { cpu: 2000, memory: 1, gpu: 0 })).toBe('needs 3 cpu, 2 cpu available');
  });
});

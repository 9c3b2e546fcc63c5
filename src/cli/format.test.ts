import { describe, expect, it } from 'vitest';
import { age, amounts, resourceTable, storageSummary, table } from './format.js';

describe('format', () => {
  it('aligns columns without trailing blanks', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['q', ''],
        ],
      ),
    ).toBe('A    LONGER\nxyz  1\nq\n');
  });

  it('shows resources the way kubectl does', () => {
    const total = { cpu: 8000, memory: 8 * 2 ** 30, gpu: 4 };
    const used = { cpu: 500, memory: 256 * 2 ** 20, gpu: 0 };
    expect(resourceTable({ total, used })).toBe(
      ['RESOURCE  TOTAL  USED', 'cpu       8      500m', 'memory    8Gi    256Mi', 'gpu       4      0', ''].join('\n'),
    );
  });

  it('turns wire int64 strings into numbers and fills absent messages with zero', () => {
    expect(amounts({ cpu: '1500', memory: '1073741824', gpu: '1', tags: [] })).toEqual({ cpu: 1500, memory: 2 ** 30, gpu: 1 });
    expect(amounts(null)).toEqual({ cpu: 0, memory: 0, gpu: 0 });
  });

  it('ages like kubectl', () => {
    expect(age(0, 59_000)).toBe('59s');
    expect(age(0, 185_000)).toBe('3m5s');
    expect(age(0, 3 * 3600_000)).toBe('3h');
    expect(age(0, 72 * 3600_000)).toBe('3d');
  });

  it('summarises the storage books, and says nothing when storage is neither limited nor used', () => {
    const GiB = String(2 ** 30);
    const s = (over: object) => ({ limited: false, total: '0', used: '0', available: '0', ephemeralUsed: '0', claimedUsed: '0', ...over });
    expect(storageSummary(s({}))).toBeUndefined();
    expect(storageSummary(null)).toBeUndefined();
    expect(
      storageSummary(
        s({
          limited: true,
          total: String(20 * 2 ** 30),
          used: String(4 * 2 ** 30),
          available: String(16 * 2 ** 30),
          ephemeralUsed: GiB,
          claimedUsed: String(3 * 2 ** 30),
        }),
      )?.text,
    ).toBe('storage: 4Gi used of 20Gi, 16Gi available (1Gi emptyDir, 3Gi claimed)\n');
    expect(storageSummary(s({ used: GiB, claimedUsed: GiB }))?.text).toBe('storage: 1Gi used, not limited (0 emptyDir, 1Gi claimed)\n');
  });
});

import { describe, expect, it } from 'vitest';
import { cleanupPolicyOf, removeOnFinish, retentionDue } from './cleanup.js';

describe('removeOnFinish', () => {
  it('follows the policy of seed 000, and keeps what carries no known policy', () => {
    const table = (['Always', 'OnSuccess', 'OnFailure', undefined] as const).map((p) => [p, removeOnFinish(p, 'Succeeded'), removeOnFinish(p, 'Failed')]);
    expect(table).toEqual([
      ['Always', true, true],
      ['OnSuccess', true, false],
      ['OnFailure', false, true],
      [undefined, false, false],
    ]);
    expect([cleanupPolicyOf('OnFailure'), cleanupPolicyOf('onfailure'), cleanupPolicyOf(undefined)]).toEqual(['OnFailure', undefined, undefined]);
  });
});

describe('retentionDue', () => {
  const policy = { keepFinishedMs: 1000, maxFinished: 2 };
  it('removes what is older than the keep time and says when the next one is due', () => {
    const out = retentionDue(
      [
        { id: 'old', finishedAt: 0 },
        { id: 'new', finishedAt: 500 },
      ],
      1000,
      policy,
    );
    expect(out).toEqual({ remove: [{ id: 'old', cause: 'age' }], nextAt: 1500 });
  });

  it('removes the oldest beyond the count, ties broken by id', () => {
    const out = retentionDue(
      [
        { id: 'c', finishedAt: 10 },
        { id: 'b', finishedAt: 5 },
        { id: 'a', finishedAt: 5 },
        { id: 'd', finishedAt: 20 },
      ],
      100,
      policy,
    );
    expect(out.remove).toEqual([
      { id: 'a', cause: 'count' },
      { id: 'b', cause: 'count' },
    ]);
    expect(out.nextAt).toBe(1010);
  });

  it('keeps nothing with a zero keep time, and nothing is due for an empty list', () => {
    expect(retentionDue([{ id: 'x', finishedAt: 7 }], 7, { keepFinishedMs: 0, maxFinished: 10 }).remove).toEqual([{ id: 'x', cause: 'age' }]);
    expect(retentionDue([], 0, policy)).toEqual({ remove: [], nextAt: undefined });
  });
});

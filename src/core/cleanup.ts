/**
 * What happens to finished workloads: the Job cleanup policy of seed 000 and
 * the retention of what the policy keeps. Pure decisions; the reconciler
 * carries them out through the WorkloadRuntime.
 */
export type CleanupPolicy = 'Always' | 'OnSuccess' | 'OnFailure';
export const CLEANUP_POLICIES: readonly CleanupPolicy[] = ['Always', 'OnSuccess', 'OnFailure'];

export type Outcome = 'Succeeded' | 'Failed';

/** Parses the policy a Job carries; anything else (a hand-made Job, a typo) keeps the Job. */
export function cleanupPolicyOf(value: string | undefined): CleanupPolicy | undefined {
  return CLEANUP_POLICIES.find((p) => p === value);
}

/** Should a finished Job with this policy be removed as soon as it finished? */
export function removeOnFinish(policy: CleanupPolicy | undefined, outcome: Outcome): boolean {
  switch (policy) {
    case 'Always':
      return true;
    case 'OnSuccess':
      return outcome === 'Succeeded';
    case 'OnFailure':
      return outcome === 'Failed';
    default:
      return false;
  }
}

export interface RetentionPolicy {
  /** How long a finished workload the cleanup policy keeps stays in the cluster. */
  readonly keepFinishedMs: number;
  /** At most this many finished workloads are kept; the oldest go first. */
  readonly maxFinished: number;
}

export interface Finished {
  readonly id: string;
  readonly finishedAt: number; // ms since epoch
}

export type RetentionCause = 'age' | 'count';

/**
 * Which kept finished workloads to remove now, and when the next one falls
 * due (undefined when none is waiting). Ties on finishedAt go by id, so the
 * choice is the same on every call.
 */
export function retentionDue(
  finished: readonly Finished[],
  now: number,
  policy: RetentionPolicy,
): { remove: Array<{ id: string; cause: RetentionCause }>; nextAt: number | undefined } {
  const sorted = [...finished].sort((a, b) => a.finishedAt - b.finishedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const remove: Array<{ id: string; cause: RetentionCause }> = [];
  const excess = Math.max(0, sorted.length - policy.maxFinished);
  let nextAt: number | undefined;
  sorted.forEach((f, i) => {
    const expires = f.finishedAt + policy.keepFinishedMs;
    if (expires <= now) remove.push({ id: f.id, cause: 'age' });
    else if (i < excess) remove.push({ id: f.id, cause: 'count' });
    else nextAt = nextAt === undefined ? expires : Math.min(nextAt, expires);
  });
  return { remove, nextAt };
}

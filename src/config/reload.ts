/**
 * What a changed config file means for a running daemon: the quota lent
 * (resource.cpu, resource.memory, resource.gpu) and log.level take effect at
 * once; every other change waits for a restart.
 */
export const RELOADABLE: readonly string[] = ['resource.cpu', 'resource.memory', 'resource.gpu', 'log.level'];

/** Dotted paths of the leaves whose values differ (arrays compare whole). */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedKeys(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '(top level)'];
}

export interface ReloadPlan {
  /** Changed keys that take effect now. */
  readonly applied: readonly string[];
  /** Changed keys that only a restart applies. */
  readonly needRestart: readonly string[];
}

export function planReload(before: unknown, after: unknown): ReloadPlan {
  const changed = changedKeys(before, after);
  return { applied: changed.filter((k) => RELOADABLE.includes(k)), needRestart: changed.filter((k) => !RELOADABLE.includes(k)) };
}

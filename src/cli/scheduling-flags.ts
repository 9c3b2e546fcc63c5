/**
 * The deploy flags of the scheduling fields (issue 15 item 7):
 *   --priority-class NAME
 *   --apart LABEL[,topology=KEY][,preferred][,weight=N]     anti-affinity with the other instances of LABEL's group
 *   --together LABEL[,topology=KEY][,preferred][,weight=N]  affinity with them
 *   --spread TOPOLOGY_KEY[,skew=N][,anyway][,group=LABEL][,min-domains=N]
 * Only what is given is sent; the daemon validates the values.
 */
import type { InstanceAffinity, TopologySpread, Workload } from '../adapters/grpc/contract.js';

export class SchedulingFlagError extends Error {}

/** "head,key=value,flag" into the head and its options. */
function options(flag: string, raw: string, allowed: readonly string[]): { head: string; opts: Map<string, string> } {
  const [head = '', ...rest] = raw.split(',').map((s) => s.trim());
  if (!head) throw new SchedulingFlagError(`${flag} "${raw}": the first part is required`);
  const opts = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    const key = eq >= 0 ? part.slice(0, eq) : part;
    if (!allowed.includes(key)) throw new SchedulingFlagError(`${flag} "${raw}": unknown option "${key}" (${allowed.join(', ')})`);
    opts.set(key, eq >= 0 ? part.slice(eq + 1) : '');
  }
  return { head, opts };
}

function count(flag: string, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new SchedulingFlagError(`${flag}: ${name} must be a whole number, not "${raw}"`);
  return Number(raw);
}

function affinity(flag: string, relation: InstanceAffinity['relation'], raw: string): InstanceAffinity {
  const { head, opts } = options(flag, raw, ['topology', 'preferred', 'weight']);
  const weight = count(flag, 'weight', opts.get('weight'));
  const preferred = opts.has('preferred') || weight !== undefined;
  return {
    groupLabel: head,
    relation,
    mode: preferred ? 'PLACEMENT_MODE_PREFERRED' : 'PLACEMENT_MODE_REQUIRED',
    ...(opts.get('topology') ? { topologyKey: opts.get('topology') } : {}),
    ...(weight !== undefined ? { weight } : {}),
  };
}

function spread(raw: string): TopologySpread {
  const { head, opts } = options('--spread', raw, ['skew', 'anyway', 'group', 'min-domains']);
  const skew = count('--spread', 'skew', opts.get('skew'));
  const minDomains = count('--spread', 'min-domains', opts.get('min-domains'));
  return {
    topologyKey: head,
    ...(skew !== undefined ? { maxSkew: skew } : {}),
    whenUnsatisfiable: opts.has('anyway') ? 'WHEN_UNSATISFIABLE_SCHEDULE_ANYWAY' : 'WHEN_UNSATISFIABLE_DO_NOT_SCHEDULE',
    ...(opts.get('group') ? { groupLabel: opts.get('group') } : {}),
    ...(minDomains !== undefined ? { minDomains } : {}),
  };
}

export interface SchedulingValues {
  readonly 'priority-class'?: string | undefined;
  readonly apart?: readonly string[] | undefined;
  readonly together?: readonly string[] | undefined;
  readonly spread?: readonly string[] | undefined;
}

export function schedulingFlags(values: SchedulingValues): Pick<Workload, 'priorityClassName' | 'affinity' | 'topologySpread'> {
  const rules = [
    ...(values.apart ?? []).map((raw) => affinity('--apart', 'AFFINITY_RELATION_APART', raw)),
    ...(values.together ?? []).map((raw) => affinity('--together', 'AFFINITY_RELATION_TOGETHER', raw)),
  ];
  return {
    ...(values['priority-class'] !== undefined ? { priorityClassName: values['priority-class'] } : {}),
    ...(rules.length > 0 ? { affinity: rules } : {}),
    ...(values.spread?.length ? { topologySpread: values.spread.map(spread) } : {}),
  };
}

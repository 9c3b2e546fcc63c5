/**
 * Scheduling of a deploy (issue 15 item 7): its PriorityClass, affinity
 * between the instances of one application, topology spread, and the GPU
 * node placement the operator configured. Validated and normalised here, so
 * the manifest builder only translates.
 */
import { labelKeyProblem, labelValueProblem } from './label-syntax.js';
import type { Toleration } from './deploy-spec.js';

export type AffinityRelation = 'Apart' | 'Together';
export type PlacementMode = 'Required' | 'Preferred';
export type WhenUnsatisfiable = 'DoNotSchedule' | 'ScheduleAnyway';

export interface AffinityInput {
  readonly groupLabel: string;
  readonly relation: AffinityRelation | undefined;
  readonly mode: PlacementMode | undefined;
  readonly topologyKey: string;
  readonly weight: number;
}

export interface TopologySpreadInput {
  readonly topologyKey: string;
  readonly maxSkew: number;
  readonly whenUnsatisfiable: WhenUnsatisfiable | undefined;
  readonly groupLabel: string;
  readonly minDomains?: number | undefined;
}

export interface SchedulingInput {
  readonly priorityClassName?: string | undefined;
  readonly affinity?: readonly AffinityInput[] | undefined;
  readonly topologySpread?: readonly TopologySpreadInput[] | undefined;
}

/** The group an instance belongs to: its own value of the caller's label. */
export interface Group {
  readonly label: string;
  readonly value: string;
}

export interface AffinityRule {
  readonly group: Group;
  readonly relation: AffinityRelation;
  readonly mode: PlacementMode;
  readonly topologyKey: string;
  /** Preferred only. */
  readonly weight: number;
}

export interface SpreadRule {
  /** Undefined: every instance of this daemon. */
  readonly group: Group | undefined;
  readonly topologyKey: string;
  readonly maxSkew: number;
  readonly whenUnsatisfiable: WhenUnsatisfiable;
  readonly minDomains?: number;
}

export interface Scheduling {
  readonly priorityClassName: string;
  readonly affinity: readonly AffinityRule[];
  readonly topologySpread: readonly SpreadRule[];
}

/** gpu.node_selector and gpu.tolerations from the config: added to every deploy that asks for a GPU. */
export interface GpuPlacement {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
}

export const NO_SCHEDULING: Scheduling = { priorityClassName: '', affinity: [], topologySpread: [] };

export const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes allows 16 topology spread constraints and keeps affinity terms small; more is a mistake, not a need. */
const MAX_RULES = 8;

function checkPriorityClass(name: string, problems: string[]): void {
  if (name === '') return;
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    problems.push(`workload.priority_class_name ${JSON.stringify(name.slice(0, 64))} is not a DNS subdomain name`);
  } else if (name.startsWith('system-')) {
    // system-node-critical and system-cluster-critical preempt cluster components.
    problems.push(`workload.priority_class_name "${name}" is reserved for cluster components`);
  }
}

function groupOf(field: string, label: string, labels: Readonly<Record<string, string>>, problems: string[]): Group | undefined {
  const keyProblem = labelKeyProblem(label);
  if (keyProblem) {
    problems.push(`${field}.group_label key ${keyProblem}`);
    return undefined;
  }
  const value = labels[label];
  if (value === undefined) {
    problems.push(`${field}.group_label "${label}" is not one of workload.labels: the instance must carry the label that names its group`);
    return undefined;
  }
  if (labelValueProblem(value) || value === '') {
    problems.push(`${field}.group_label "${label}" has an empty or invalid value`);
    return undefined;
  }
  return { label, value };
}

function topologyKeyOf(field: string, key: string, fallback: string | undefined, problems: string[]): string {
  if (key === '' && fallback !== undefined) return fallback;
  if (key === '') {
    problems.push(`${field}.topology_key is required`);
    return key;
  }
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) problems.push(`${field}.topology_key ${keyProblem}`);
  return key;
}

function affinityRule(a: AffinityInput, i: number, labels: Readonly<Record<string, string>>, problems: string[]): AffinityRule | undefined {
  const field = `workload.affinity[${i}]`;
  const group = groupOf(field, a.groupLabel, labels, problems);
  if (a.relation === undefined) problems.push(`${field}.relation must be APART (anti-affinity) or TOGETHER (affinity)`);
  const mode = a.mode ?? 'Required';
  const topologyKey = topologyKeyOf(field, a.topologyKey, HOSTNAME_TOPOLOGY, problems);
  if (mode === 'Required' && a.weight !== 0) problems.push(`${field}.weight applies to PREFERRED rules only`);
  if (!(Number.isInteger(a.weight) && a.weight >= 0 && a.weight <= 100)) problems.push(`${field}.weight must be 1-100 (got ${a.weight})`);
  if (!group || a.relation === undefined) return undefined;
  return { group, relation: a.relation, mode, topologyKey, weight: mode === 'Preferred' ? a.weight || 100 : 0 };
}

function spreadRule(s: TopologySpreadInput, i: number, labels: Readonly<Record<string, string>>, problems: string[]): SpreadRule | undefined {
  const field = `workload.topology_spread[${i}]`;
  const group = s.groupLabel === '' ? undefined : groupOf(field, s.groupLabel, labels, problems);
  const topologyKey = topologyKeyOf(field, s.topologyKey, undefined, problems);
  if (!(Number.isInteger(s.maxSkew) && s.maxSkew >= 0)) problems.push(`${field}.max_skew must be 1 or more (got ${s.maxSkew})`);
  const whenUnsatisfiable = s.whenUnsatisfiable ?? 'DoNotSchedule';
  if (s.minDomains !== undefined) {
    if (!(Number.isInteger(s.minDomains) && s.minDomains >= 1)) problems.push(`${field}.min_domains must be 1 or more (got ${s.minDomains})`);
    if (whenUnsatisfiable !== 'DoNotSchedule') problems.push(`${field}.min_domains needs when_unsatisfiable DO_NOT_SCHEDULE`);
  }
  if (s.groupLabel !== '' && !group) return undefined;
  return {
    group,
    topologyKey,
    maxSkew: s.maxSkew || 1,
    whenUnsatisfiable,
    ...(s.minDomains !== undefined ? { minDomains: s.minDomains } : {}),
  };
}

/** Checks the scheduling fields against the instance's own labels; appends every problem. */
export function normaliseScheduling(input: SchedulingInput, labels: Readonly<Record<string, string>>, problems: string[]): Scheduling {
  const priorityClassName = input.priorityClassName ?? '';
  checkPriorityClass(priorityClassName, problems);
  const affinityIn = input.affinity ?? [];
  const spreadIn = input.topologySpread ?? [];
  if (affinityIn.length > MAX_RULES) problems.push(`workload.affinity has ${affinityIn.length} rules (at most ${MAX_RULES})`);
  if (spreadIn.length > MAX_RULES) problems.push(`workload.topology_spread has ${spreadIn.length} rules (at most ${MAX_RULES})`);
  const affinity = affinityIn.map((a, i) => affinityRule(a, i, labels, problems)).filter((r): r is AffinityRule => r !== undefined);
  const topologySpread = spreadIn.map((s, i) => spreadRule(s, i, labels, problems)).filter((r): r is SpreadRule => r !== undefined);
  const seen = new Set<string>();
  for (const s of topologySpread) {
    // The API server refuses two constraints with the same key and policy.
    const key = `${s.topologyKey}/${s.whenUnsatisfiable}`;
    if (seen.has(key)) problems.push(`workload.topology_spread lists topology_key "${s.topologyKey}" with ${s.whenUnsatisfiable} twice`);
    seen.add(key);
  }
  return { priorityClassName, affinity, topologySpread };
}

/**
 * The caller's node selector and tolerations with the GPU placement added
 * when the deploy asks for a GPU. A caller's selector that contradicts the
 * configured one could never be scheduled: that is a problem, not a merge.
 */
export function withGpuPlacement(
  gpu: number,
  nodeSelector: Readonly<Record<string, string>>,
  tolerations: readonly Toleration[],
  placement: GpuPlacement | undefined,
  problems: string[],
): { nodeSelector: Readonly<Record<string, string>>; tolerations: readonly Toleration[] } {
  if (gpu <= 0 || !placement) return { nodeSelector, tolerations };
  for (const [k, v] of Object.entries(placement.nodeSelector)) {
    if (nodeSelector[k] !== undefined && nodeSelector[k] !== v) {
      problems.push(`workload.node_selector["${k}"] = "${nodeSelector[k]}" contradicts gpu.node_selector "${v}" that GPU deploys run with`);
    }
  }
  const same = (a: Toleration, b: Toleration): boolean =>
    a.key === b.key && a.operator === b.operator && a.value === b.value && a.effect === b.effect && a.tolerationSeconds === b.tolerationSeconds;
  const added = placement.tolerations.filter((t) => !tolerations.some((own) => same(own, t)));
  return { nodeSelector: { ...nodeSelector, ...placement.nodeSelector }, tolerations: [...tolerations, ...added] };
}

/** The rules as part of the spec hash: only those set, so the hash of a request without them is what it always was. */
export function schedulingHashPart(s: Scheduling): Record<string, unknown> {
  return {
    ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
    ...(s.affinity.length > 0 ? { affinity: s.affinity } : {}),
    ...(s.topologySpread.length > 0 ? { topologySpread: s.topologySpread } : {}),
  };
}

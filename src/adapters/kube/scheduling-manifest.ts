/** Pure translation of a deploy's scheduling rules (core/scheduling.ts) into pod spec fields. */
import type { V1Affinity, V1LabelSelector, V1PodAffinityTerm, V1PodSpec, V1TopologySpreadConstraint, V1WeightedPodAffinityTerm } from '@kubernetes/client-node';
import type { AffinityRule, Group, Scheduling, SpreadRule } from '../../core/scheduling.js';
import { LABEL_MANAGED } from '../../shared/labels.js';

/** The instances of a group: this daemon's (managed label and the configured selector labels) carrying the group's label value. */
function groupSelector(group: Group | undefined, selectorLabels: Readonly<Record<string, string>>): V1LabelSelector {
  return { matchLabels: { ...selectorLabels, [LABEL_MANAGED]: 'true', ...(group ? { [group.label]: group.value } : {}) } };
}

function term(rule: AffinityRule, selectorLabels: Readonly<Record<string, string>>): V1PodAffinityTerm {
  return { labelSelector: groupSelector(rule.group, selectorLabels), topologyKey: rule.topologyKey };
}

function podAffinityOf(
  rules: readonly AffinityRule[],
  selectorLabels: Readonly<Record<string, string>>,
): { required?: V1PodAffinityTerm[]; preferred?: V1WeightedPodAffinityTerm[] } | undefined {
  if (rules.length === 0) return undefined;
  const required = rules.filter((r) => r.mode === 'Required').map((r) => term(r, selectorLabels));
  const preferred = rules.filter((r) => r.mode === 'Preferred').map((r) => ({ weight: r.weight, podAffinityTerm: term(r, selectorLabels) }));
  return {
    ...(required.length > 0 ? { required } : {}),
    ...(preferred.length > 0 ? { preferred } : {}),
  };
}

function affinityOf(rules: readonly AffinityRule[], selectorLabels: Readonly<Record<string, string>>): V1Affinity | undefined {
  const together = podAffinityOf(
    rules.filter((r) => r.relation === 'Together'),
    selectorLabels,
  );
  const apart = podAffinityOf(
    rules.filter((r) => r.relation === 'Apart'),
    selectorLabels,
  );
  if (!together && !apart) return undefined;
  const k8s = (p: NonNullable<typeof together>): V1Affinity['podAffinity'] => ({
    ...(p.required ? { requiredDuringSchedulingIgnoredDuringExecution: p.required } : {}),
    ...(p.preferred ? { preferredDuringSchedulingIgnoredDuringExecution: p.preferred } : {}),
  });
  return {
    ...(together ? { podAffinity: k8s(together) } : {}),
    ...(apart ? { podAntiAffinity: k8s(apart) } : {}),
  };
}

function spreadOf(rule: SpreadRule, selectorLabels: Readonly<Record<string, string>>): V1TopologySpreadConstraint {
  return {
    maxSkew: rule.maxSkew,
    topologyKey: rule.topologyKey,
    whenUnsatisfiable: rule.whenUnsatisfiable,
    labelSelector: groupSelector(rule.group, selectorLabels),
    ...(rule.minDomains !== undefined ? { minDomains: rule.minDomains } : {}),
  };
}

/** The pod spec fields for the rules; empty when there are none, so pods without them look as they always did. */
export function schedulingFields(
  s: Scheduling,
  selectorLabels: Readonly<Record<string, string>>,
): Pick<V1PodSpec, 'priorityClassName' | 'affinity' | 'topologySpreadConstraints'> {
  const affinity = affinityOf(s.affinity, selectorLabels);
  return {
    ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
    ...(affinity ? { affinity } : {}),
    ...(s.topologySpread.length > 0 ? { topologySpreadConstraints: s.topologySpread.map((r) => spreadOf(r, selectorLabels)) } : {}),
  };
}

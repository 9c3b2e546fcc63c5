/**
 * Where a pod may run, read back from its spec as one line per rule, for
 * GetInstance and the CLI's describe: what the scheduler was told, whoever
 * wrote it (the caller's fields, the gpu.* config, the API server).
 */
import type { V1LabelSelector, V1PodAffinityTerm, V1PodSpec, V1Toleration, V1WeightedPodAffinityTerm } from '@kubernetes/client-node';
import type { Placement } from '../../core/instances.js';

/** The API server's DefaultTolerationSeconds adds these to every pod: not worth a line. */
function isDefaultToleration(t: V1Toleration): boolean {
  return (t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable') && t.effect === 'NoExecute' && t.operator === 'Exists';
}

function toleration(t: V1Toleration): string {
  const what = !t.key ? 'every taint' : t.operator === 'Exists' ? t.key : `${t.key}=${t.value ?? ''}`;
  const seconds = t.tolerationSeconds !== undefined && t.tolerationSeconds !== null ? ` for ${t.tolerationSeconds}s` : '';
  return `tolerates ${what}${t.effect ? `:${t.effect}` : ''}${seconds}`;
}

/** The group a selector names, without the daemon's own labels. */
function group(selector: V1LabelSelector | undefined): string {
  const terms = Object.entries(selector?.matchLabels ?? {})
    .filter(([k]) => !k.startsWith('iarnet.'))
    .map(([k, v]) => `${k}=${v}`);
  return terms.length > 0 ? terms.join(',') : 'all instances';
}

function terms(verb: string, required: V1PodAffinityTerm[] | undefined, preferred: V1WeightedPodAffinityTerm[] | undefined): string[] {
  return [
    ...(required ?? []).map((t) => `${verb} ${group(t.labelSelector)} per ${t.topologyKey} (required)`),
    ...(preferred ?? []).map((w) => `${verb} ${group(w.podAffinityTerm.labelSelector)} per ${w.podAffinityTerm.topologyKey} (preferred, weight ${w.weight})`),
  ];
}

export function placementOf(spec: V1PodSpec | undefined): Placement | undefined {
  if (!spec) return undefined;
  const rules: string[] = [];
  const selector = Object.entries(spec.nodeSelector ?? {});
  if (selector.length > 0) rules.push(`node selector ${selector.map(([k, v]) => `${k}=${v}`).join(',')}`);
  rules.push(...(spec.tolerations ?? []).filter((t) => !isDefaultToleration(t)).map(toleration));
  const a = spec.affinity;
  rules.push(
    ...terms(
      'apart from',
      a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
      a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution,
    ),
  );
  rules.push(
    ...terms('together with', a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution, a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution),
  );
  for (const c of spec.topologySpreadConstraints ?? []) {
    const min = c.minDomains !== undefined && c.minDomains !== null ? `, min domains ${c.minDomains}` : '';
    rules.push(`spread ${group(c.labelSelector)} over ${c.topologyKey}, max skew ${c.maxSkew}, ${c.whenUnsatisfiable}${min}`);
  }
  const priorityClassName = spec.priorityClassName ?? '';
  return rules.length > 0 || priorityClassName ? { priorityClassName, rules } : undefined;
}

/**
 * Pure conversion of a metrics.k8s.io/v1beta1 PodMetricsList into usage per
 * instance. CPU and memory of every container of every pod of an instance
 * are summed as exact rationals and rounded once per instance: rounding each
 * container first would add up to one millicore per container.
 *
 * CPU is rounded to the nearest millicore, not up as Quantity.MilliValue
 * (and so `kubectl top`) does: metrics-server's CPU is a rate over a ~15 s
 * window with nanocore noise (a steady 250m reads 250008540n, then
 * 249995455n), and rounding up would report 251m half of the time. Memory is
 * a whole number of bytes already; toUnits keeps it exact.
 */
import type { ObservedPod } from '../../core/instances.js';
import { addRational, parseQuantity, toMilliNearest, toSafeNumber, toUnits, type Rational } from '../../core/quantity.js';
import { invalidArgument } from '../../core/errors.js';
import { LABEL_INSTANCE_ID } from '../../shared/labels.js';

/** The fields of PodMetrics we read, and the two that say when and over what window it was measured. */
export interface PodMetrics {
  readonly metadata?: { readonly name?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly timestamp?: string;
  readonly window?: string;
  readonly containers?: ReadonlyArray<{ readonly name?: string; readonly usage?: Readonly<Record<string, string>> }>;
}

export interface PodMetricsList {
  readonly items?: readonly PodMetrics[];
}

/** CPU in millicores and memory in bytes; metrics-server does not meter GPUs. */
export interface MeteredUsage {
  readonly cpu: number;
  readonly memory: number;
}

/**
 * PodMetrics carry the pod's labels but not its annotations, and label
 * values cannot hold every instance id; so the exact id comes from the
 * watched pod of the same name, then the label, then the pod name (the
 * same order as observe.ts uses for the ledger).
 */
export function instanceResolver(pods: readonly ObservedPod[]): (metrics: PodMetrics) => string {
  const byName = new Map(pods.map((p) => [p.name, p.instanceId]));
  return (metrics) => {
    const name = metrics.metadata?.name ?? '';
    return byName.get(name) ?? metrics.metadata?.labels?.[LABEL_INSTANCE_ID] ?? name;
  };
}

const ZERO_Q: Rational = { num: 0n, den: 1n };

function quantityOf(raw: string | undefined, where: string): Rational {
  if (raw === undefined) return ZERO_Q;
  try {
    return parseQuantity(raw);
  } catch {
    throw invalidArgument(`${where}: "${raw}" is not a Kubernetes quantity`);
  }
}

export function usageByInstance(list: PodMetricsList, instanceOf: (metrics: PodMetrics) => string): Map<string, MeteredUsage> {
  const exact = new Map<string, { cpu: Rational; memory: Rational }>();
  for (const pod of list.items ?? []) {
    const id = instanceOf(pod);
    let acc = exact.get(id) ?? { cpu: ZERO_Q, memory: ZERO_Q };
    for (const c of pod.containers ?? []) {
      const where = `PodMetrics ${pod.metadata?.name ?? '?'} container ${c.name ?? '?'}`;
      acc = {
        cpu: addRational(acc.cpu, quantityOf(c.usage?.cpu, `${where} cpu`)),
        memory: addRational(acc.memory, quantityOf(c.usage?.memory, `${where} memory`)),
      };
    }
    exact.set(id, acc);
  }
  const out = new Map<string, MeteredUsage>();
  for (const [id, u] of exact) {
    out.set(id, {
      cpu: toSafeNumber(toMilliNearest(u.cpu), `cpu usage of instance ${id}`),
      memory: toSafeNumber(toUnits(u.memory), `memory usage of instance ${id}`),
    });
  }
  return out;
}

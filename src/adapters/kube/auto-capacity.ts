/**
 * resource.mode: auto — the capacity is what the cluster's schedulable nodes
 * can still give us: allocatable minus what pods we do not manage request,
 * capped by the configured values when given. Computed from watches, so
 * reading it costs no API call.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { CapacitySource } from '../../core/ports.js';
import { ZERO, add, min, subtractFloor, type Resources } from '../../core/resources.js';
import { allocatable, isSchedulable, podRequests } from './observe.js';
import type { Informer } from './informer.js';

export interface AutoCapacityOptions {
  /** Decides whether a pod is one of ours (its requests are "used", not subtracted from total). */
  readonly isManaged: (pod: V1Pod) => boolean;
  readonly cap: Partial<Resources>;
}

/** Pure: the total our workloads may hold. */
export function autoTotal(nodes: readonly V1Node[], pods: readonly V1Pod[], options: AutoCapacityOptions): Resources {
  const schedulable = new Map<string, Resources>();
  // Pods on cordoned or unready nodes hold room that is not counted in the first place.
  for (const node of nodes) if (isSchedulable(node)) schedulable.set(node.metadata?.name ?? '', allocatable(node));
  const offered = [...schedulable.values()].reduce(add, ZERO);
  let othersHold = ZERO;
  for (const pod of pods) {
    const phase = pod.status?.phase;
    const nodeName = pod.spec?.nodeName;
    if (phase === 'Succeeded' || phase === 'Failed' || !nodeName || !schedulable.has(nodeName) || options.isManaged(pod)) continue;
    othersHold = add(othersHold, podRequests(pod));
  }
  const free = subtractFloor(offered, othersHold);
  const cap = options.cap;
  return min(free, { cpu: cap.cpu ?? Infinity, memory: cap.memory ?? Infinity, gpu: cap.gpu ?? Infinity });
}

export class AutoCapacity implements CapacitySource {
  private memo: { nodes: number; pods: number; total: Resources } | undefined;

  constructor(
    private readonly nodes: Informer<V1Node>,
    private readonly pods: Informer<V1Pod>,
    private options: AutoCapacityOptions,
  ) {}

  /** A new cap (the config's resource.* reloaded) applies to the next read. */
  setCap(cap: Partial<Resources>): void {
    this.options = { ...this.options, cap };
    this.memo = undefined;
  }

  total(): Resources {
    if (this.memo?.nodes !== this.nodes.version || this.memo.pods !== this.pods.version) {
      this.memo = { nodes: this.nodes.version, pods: this.pods.version, total: autoTotal(this.nodes.items(), this.pods.items(), this.options) };
    }
    return this.memo.total;
  }
}

/** Usage figures derived from requests, for when metrics.k8s.io cannot be read. */
import type { ObservedWorkloads } from './instances.js';
import { ZERO, add, type Resources } from './resources.js';

/** Requests of Running managed pods, per instance and in total. */
export function runningRequests(observed: ObservedWorkloads): { total: Resources; perInstance: Map<string, Resources> } {
  const perInstance = new Map<string, Resources>();
  let total = ZERO;
  for (const pod of observed.pods) {
    if (pod.phase !== 'Running') continue;
    perInstance.set(pod.instanceId, add(perInstance.get(pod.instanceId) ?? ZERO, pod.requests));
    total = add(total, pod.requests);
  }
  return { total, perInstance };
}

/** GPUs cannot be metered by metrics-server: those requested by Running pods are in use. */
export function runningGpus(observed: ObservedWorkloads): number {
  return runningRequests(observed).total.gpu;
}

/**
 * The API group and version of each workload kind the daemon creates. Every
 * reference to a workload (owner of its Service, NetworkPolicy and claims,
 * subject of an Event) is built from this one table: a reference naming a
 * kind under the wrong group resolves to nothing, and the garbage collector
 * then never deletes what it owns.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { WorkloadKind } from '../../core/instances.js';

export const WORKLOAD_API_VERSION: Readonly<Record<WorkloadKind, string>> = {
  Pod: 'v1',
  Job: 'batch/v1',
  Deployment: 'apps/v1',
};

/** The workload as the controlling owner of what the daemon makes for it. */
export function workloadOwnerReference(kind: WorkloadKind, name: string, uid: string): V1OwnerReference {
  return {
    apiVersion: WORKLOAD_API_VERSION[kind],
    kind,
    name,
    uid,
    controller: true,
    // The workload's deletion never waits for these: they only follow it.
    blockOwnerDeletion: false,
  };
}

/**
 * What the core needs from the outside world. Adapters implement these;
 * unit tests of the core use small in-memory versions.
 */
import type { Resources } from './resources.js';
import type { DeploySpec } from './deploy-spec.js';
import type { ObservedWorkloads } from './instances.js';

export interface Clock {
  now(): number; // ms since epoch
}

/** Structural subset of pino's logger, so the core does not import pino. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Creates workloads in the cluster. Implementations map API failures to DomainErrors. */
export interface WorkloadRuntime {
  /** Creates the Pod or Job for the spec; throws AlreadyExists when its name is taken. */
  create(spec: DeploySpec): Promise<{ name: string }>;
  /** Reads the workload of an instance straight from the cluster (bypassing any cache). */
  lookup(instanceId: string): Promise<{ name: string; specHash: string | undefined } | undefined>;
}

/** The managed workloads as last observed in the cluster (an informer cache). */
export interface WorkloadView {
  snapshot(): ObservedWorkloads;
  /** True once the initial list has completed and the watch is live. */
  synced(): boolean;
  /** Calls the listener after every change the watches deliver; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

export interface CapacitySource {
  total(): Resources;
}

export type UsageSourceKind = 'metrics' | 'requests';

export interface UsageSnapshot {
  readonly total: Resources;
  readonly perInstance: ReadonlyMap<string, Resources>;
  readonly source: UsageSourceKind;
  readonly sampledAt: number; // ms since epoch
  readonly stale: boolean;
}

export interface UsageSource {
  current(): UsageSnapshot;
}

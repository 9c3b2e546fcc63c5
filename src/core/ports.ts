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
  /**
   * Creates the Pod or Job for the spec; throws AlreadyExists when its name is
   * taken. When `signal` aborts, the call is cut and not retried.
   */
  create(spec: DeploySpec, signal?: AbortSignal): Promise<{ name: string }>;
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

/** The connected control plane as the session store keeps it. */
export interface SessionRecord {
  readonly providerId: string;
  readonly connectedAt: number; // ms since epoch
  /** The last Connect or HealthCheck known to the store, including touches not yet persisted. */
  readonly lastSeen: number; // ms since epoch
}

/**
 * Where the session lives, so that it outlives the process and is shared by
 * every replica. The contract:
 * - `current()` costs no I/O: it is the last record read, written or
 *   delivered by a watch, with the newest local `touch` folded in. Control
 *   RPCs (HealthCheck, GetCapacity) read only this.
 * - `update(mutate)` is a compare-and-set write-through: `mutate` gets the
 *   freshest record (undefined = nobody connected) and returns the next one.
 *   It may be called more than once, when another writer got in between, so
 *   it must be free of side effects; when it throws, nothing is written and
 *   the error propagates. Resolves with what was stored once it is durable;
 *   rejects with an Unavailable DomainError when the store cannot be reached.
 * - `touch(providerId, at)` records that the connected control plane was
 *   seen, without waiting (write-behind): the store persists it at most once
 *   per its flush interval, drops it when the session changed meanwhile, and
 *   never throws. So the persisted last-seen may trail by up to one interval.
 * - `flush()` persists a pending touch now (on shutdown); it never throws.
 * - `refresh()` reads the persisted record afresh (one read), for the rare
 *   check that failed on a copy that may trail another replica's write by a
 *   few milliseconds; it rejects like `update` when the store is unreachable.
 */
export interface SessionStore {
  current(): SessionRecord | undefined;
  refresh(): Promise<void>;
  update(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined>;
  touch(providerId: string, at: number): void;
  flush(): Promise<void>;
}

/**
 * Whether this replica may admit deploys: with two replicas exactly one is
 * active (issue 12). The contract:
 * - `term()` answers synchronously, without I/O, and is asked at every
 *   admission: it returns a signal only while this replica holds the lease
 *   and renewed it within the renew deadline, which ends before the lease can
 *   expire for anyone else, so no two replicas admit at once.
 * - The signal aborts the moment this replica stops admitting (lost lease,
 *   missed renew deadline, release on shutdown): calls started under the term
 *   are cut then, so none lands after a successor could have admitted.
 */
export interface Leadership {
  term(): AbortSignal | undefined;
}

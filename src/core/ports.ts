/**
 * What the core needs from the outside world. Adapters implement these;
 * unit tests of the core use small in-memory versions.
 */
import type { Resources } from './resources.js';
import type { DeploySpec } from './deploy-spec.js';
import type { ObservedClaim, ObservedDeployment, ObservedJob, ObservedPod, ObservedWorkloads, WorkloadKind } from './instances.js';
import type { InstanceNetworkState } from './workload-network.js';

export interface Clock {
  now(): number; // ms since epoch
}

/** Structural subset of pino's logger, so the core does not import pino. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** Whether a line at `level` would be written; lets a hot path skip building fields nobody reads. Absent: assume it would. */
  isLevelEnabled?(level: 'debug' | 'info' | 'warn' | 'error'): boolean;
}

/** The workload object an instance runs as; `uid` pins the exact object when known. */
export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly uid?: string | undefined;
}

export type Propagation = 'Background' | 'Foreground';

export interface DeleteOptions {
  /** Background: the Job goes at once and the garbage collector removes its pods; Foreground: the Job stays (Terminating) until its pods are gone. */
  readonly propagation: Propagation;
  /** Pod termination grace period; undefined keeps the pod's own (30 s by default). */
  readonly graceSeconds?: number | undefined;
}

/** 'deleted': this call started the deletion (or found it already started); 'gone': nothing by that name (and uid) was left. */
export type DeleteOutcome = 'deleted' | 'gone';

/** Creates and deletes workloads in the cluster. Implementations map API failures to DomainErrors. */
export interface WorkloadRuntime {
  /**
   * Creates the Pod, Job or Deployment for the spec (answering the new
   * object's uid when known), then the claims of its claim volumes (owned by
   * the workload unless retained) and the Service and NetworkPolicy its
   * network asks for (owned by the workload, so they go with it), reporting
   * those as `claims` and `network`; throws AlreadyExists when the
   * workload's name is taken. If a claim or network object cannot be made,
   * the workload is deleted again and the error thrown: no half-made
   * instance stays. When `signal` aborts, the workload's create is cut and
   * not retried; once the workload exists its network objects are made
   * regardless (they hold nothing against the books).
   */
  create(
    spec: DeploySpec,
    signal?: AbortSignal,
  ): Promise<{ name: string; uid?: string | undefined; claims: readonly string[]; network?: InstanceNetworkState | undefined }>;
  /**
   * Makes what is missing of the network objects of a workload that exists
   * (a daemon stopped between the workload and its Service); what is there
   * and owned by `ref` is kept. Optional: a runtime without network objects
   * has nothing to repair.
   */
  ensureNetwork?(spec: DeploySpec, ref: Required<WorkloadRef>): Promise<InstanceNetworkState | undefined>;
  /** The names of the claims `create` makes for the spec, in the order of its volumes (pure). */
  claimNames(spec: DeploySpec): readonly string[];
  /** Sets a Deployment's replicas; NotFound when it is gone. */
  scale(ref: WorkloadRef, replicas: number, signal?: AbortSignal): Promise<void>;
  /** Reads the workload of an instance straight from the cluster (bypassing any cache); specHash is undefined when the object there is not this instance's. */
  lookup(
    instanceId: string,
    signal?: AbortSignal,
  ): Promise<{ name: string; kind: WorkloadKind; uid: string | undefined; specHash: string | undefined } | undefined>;
  /**
   * Deletes a workload; a Job or Deployment always with an explicit
   * propagation policy, so its pods never outlive it (the API's default for
   * Jobs orphans them). The instance's claims that are not retained go too.
   * Contract: delete may be called more than once, concurrently too;
   * deleting what is gone succeeds with 'gone'; with a uid, an object of the
   * same name but another uid is left alone and counts as gone.
   */
  delete(ref: WorkloadRef, options: DeleteOptions): Promise<DeleteOutcome>;
}

/** One change the watches delivered, with the object as it is now (or was, for 'deleted'). */
export type WorkloadChange =
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly kind: 'Pod'; readonly object: ObservedPod }
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly kind: 'Job'; readonly object: ObservedJob }
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly kind: 'Deployment'; readonly object: ObservedDeployment }
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly kind: 'Claim'; readonly object: ObservedClaim }
  /** The whole collection was (re)listed: read snapshot() afresh. */
  | { readonly type: 'reset'; readonly kind: WorkloadKind | 'Claim' };

/** The managed workloads as last observed in the cluster (an informer cache). */
export interface WorkloadView {
  snapshot(): ObservedWorkloads;
  /** True once the initial list has completed and the watch is live. */
  synced(): boolean;
  /**
   * Calls the listener after every change the watches deliver, with what
   * changed; the change is already visible in snapshot(). Returns an
   * unsubscribe function.
   */
  onChange(listener: (change: WorkloadChange) => void): () => void;
}

export interface LogOptions {
  readonly container: string;
  readonly tailLines?: number | undefined;
  readonly sinceSeconds?: number | undefined;
  readonly follow: boolean;
  readonly timestamps: boolean;
}

/** Container logs (through the API server's pods/log). */
export interface LogSource {
  /**
   * Yields batches of complete lines until the log ends (with follow: until
   * the container ends) or `signal` aborts, which must also end the request
   * underneath. Fails with FailedPrecondition or Unavailable when the node
   * cannot serve logs.
   */
  stream(podName: string, options: LogOptions, signal: AbortSignal): AsyncIterable<readonly string[]>;
}

export interface CapacitySource {
  total(): Resources;
  /** resource.storage in bytes; undefined when storage is not limited. */
  storage?(): number | undefined;
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

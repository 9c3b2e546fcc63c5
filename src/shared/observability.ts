/**
 * What the adapters report about themselves, and what the Prometheus
 * exporter reads. Declared here, apart from both sides, so the exporter
 * depends on these shapes and not on the gRPC or Kubernetes adapters.
 */
import type { ErrorKind } from '../core/errors.js';

/** Receives one report per finished RPC. */
export interface RpcObserver {
  rpcFinished(service: string, method: string, code: string, seconds: number): void;
  /** A Deploy that succeeded: whether it created a workload or found an identical one (an idempotent retry). */
  deployAccepted?(created: boolean): void;
  /** A Deploy answered with an in-band error, by the kind of that error. */
  deployRejected?(kind: ErrorKind): void;
}

/** Receives one report per Kubernetes API request. */
export interface KubeApiObserver {
  /** `code` is the HTTP status of a failure, or "network" when no answer came; undefined on success. */
  apiCallFinished(operation: string, seconds: number, errorCode: string | undefined): void;
}

/** Receives, per watch event, how long the daemon took to apply it (cache, books, instances). */
export interface WatchEventObserver {
  watchEventApplied(informer: string, seconds: number): void;
}

/** An informer's own counters. */
export interface InformerStats {
  readonly restarts: number;
  readonly resyncs: number;
  readonly lastEventAt: number | undefined;
}

/** Receives reports of the Kubernetes Events the daemon records and writes. */
export interface EventWriteObserver {
  /** One occurrence reported by the core, by its reason (written or not). */
  eventRecorded(reason: string): void;
  /** One create or patch of an Event, and whether it succeeded. */
  eventWritten(operation: 'create' | 'patch', ok: boolean): void;
  /** Occurrences given up: no room in the queue, or writes that kept failing. */
  eventsDropped(cause: 'queue_full' | 'write_failed', count: number): void;
}

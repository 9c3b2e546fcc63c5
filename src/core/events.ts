/**
 * What the daemon tells operators where they already look: Kubernetes
 * Events, shown by `kubectl describe` and `kubectl get events`. The core
 * names what happened and to what; an adapter turns that into Event objects.
 * No Kubernetes types here: a subject is a workload the daemon manages, or
 * the daemon itself (the adapter decides which object stands for it).
 */
import type { WorkloadKind } from './instances.js';

export type EventType = 'Normal' | 'Warning';

/** Every reason the daemon reports, with its type; the README's "Events" section lists them. */
export const EVENT_REASONS = {
  /** A Deploy created the Pod or Job. */
  Deployed: 'Normal',
  /** A pod cannot start without someone changing something (unschedulable, image or config error). */
  Stuck: 'Warning',
  /** A stuck workload was deleted (instances.delete_stuck). */
  DeletedStuck: 'Warning',
  /** A finished workload was deleted by the Job cleanup policy or the retention of finished workloads. */
  CleanedUp: 'Normal',
  /** An Undeploy deleted the workload. */
  Undeployed: 'Normal',
  Connected: 'Normal',
  Disconnected: 'Normal',
  /** No HealthCheck within session.health_timeout_seconds. */
  SessionExpired: 'Warning',
  /** A Connect with another provider_id while one is connected. */
  ConnectRefused: 'Warning',
  /** Deploys refused: no room, the instance limit, or an image not allowed. */
  AdmissionRejected: 'Warning',
} as const satisfies Record<string, EventType>;

export type EventReason = keyof typeof EVENT_REASONS;

/** A workload object the daemon manages; `uid` pins the exact object (kubectl describe matches on it). */
export interface WorkloadObject {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly uid?: string | undefined;
}

/** 'daemon': the daemon itself, for session and admission events. */
export type EventSubject = WorkloadObject | 'daemon';

export interface EventInput {
  readonly subject: EventSubject;
  /** A second object involved, e.g. the Job whose pod is stuck. */
  readonly related?: WorkloadObject | undefined;
  readonly reason: EventReason;
  /** What the daemon did or tried, machine-readable: Deploy, Delete, Connect, Expire, ... */
  readonly action: string;
  /** For people; longer than 1024 characters is cut. */
  readonly note: string;
  /**
   * Occurrences with the same subject, related object, reason, action and
   * series key are one Event with a count; the key defaults to the note, so
   * only identical repeats merge. The Event keeps the first note (the API
   * server refuses to change it), so a note under a shared key should read
   * well for every occurrence.
   */
  readonly seriesKey?: string | undefined;
}

/**
 * Where events go. The contract:
 * - `record` returns at once and never throws: reporting must neither slow
 *   nor fail the call or the background work that reports.
 * - Best effort: an event may be dropped (queue full, API server
 *   unreachable, no permission); implementations count the drops and do
 *   not retry for ever.
 * - Repeats become one Event with a series count, written at a bounded
 *   rate, never one write per occurrence.
 */
export interface EventRecorder {
  record(event: EventInput): void;
}

/** events.enabled: false. */
export const noEvents: EventRecorder = { record: () => {} };

/** The type of a reason's events. */
export const typeOf = (reason: EventReason): EventType => EVENT_REASONS[reason];

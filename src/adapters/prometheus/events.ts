/** Prometheus series of the Kubernetes Events the daemon records (best effort: drops are counted here). */
import { Counter, type Registry } from 'prom-client';
import type { EventWriteObserver } from '../../shared/observability.js';
import { PREFIX } from './exporter.js';

export class EventMetrics implements EventWriteObserver {
  private readonly recorded: Counter<'reason'>;
  private readonly writes: Counter<'operation' | 'result'>;
  private readonly dropped: Counter<'cause'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.recorded = new Counter({
      name: `${PREFIX}events_recorded_total`,
      help: 'Occurrences of Kubernetes Events by reason (Deployed, Stuck, AdmissionRejected, ...); repeats are written as one Event with a series count.',
      labelNames: ['reason'],
      registers,
    });
    this.writes = new Counter({
      name: `${PREFIX}event_writes_total`,
      help: 'Writes of events.k8s.io Events: create (a new Event) or patch (a series count), by result (ok, error).',
      labelNames: ['operation', 'result'],
      registers,
    });
    this.dropped = new Counter({
      name: `${PREFIX}events_dropped_total`,
      help: 'Event occurrences given up, by cause: queue_full (events.queue_size distinct events waiting) or write_failed (the API server refused or stayed unreachable).',
      labelNames: ['cause'],
      registers,
    });
  }

  eventRecorded(reason: string): void {
    this.recorded.inc({ reason });
  }

  eventWritten(operation: 'create' | 'patch', ok: boolean): void {
    this.writes.inc({ operation, result: ok ? 'ok' : 'error' });
  }

  eventsDropped(cause: 'queue_full' | 'write_failed', count: number): void {
    this.dropped.inc({ cause }, count);
  }
}

/**
 * Writes the core's events as events.k8s.io/v1 Events, the way client-go's
 * events broadcaster does: the daemon is the reporting controller, each
 * replica a reporting instance; repeats become one Event whose series count
 * is patched at a bounded rate (event-series.ts); writes are paced by a
 * token bucket. Recording never waits for the API server: occurrences go
 * into a bounded book and one background loop writes them, so a slow or
 * unreachable API server costs events, never an RPC. What is dropped is
 * counted; a run of failed writes is logged once, and once more when
 * writing works again.
 */
import { randomBytes } from 'node:crypto';
import {
  V1MicroTime,
  setHeaderOptions,
  PatchStrategy,
  type EventsV1Api,
  type EventsV1Event,
  type V1Lease,
  type V1ObjectReference,
} from '@kubernetes/client-node';
import { typeOf, type EventInput, type EventRecorder, type WorkloadObject } from '../../core/events.js';
import type { Logger } from '../../core/ports.js';
import { abortWith } from '../../shared/kube-abort.js';
import { httpStatusOf } from '../../shared/kube-api-errors.js';
import type { EventWriteObserver } from '../../shared/observability.js';
import { EventSeriesBook, TokenBucket, type SeriesTiming, type SeriesWrite, type WriteResult } from './event-series.js';
import { WORKLOAD_API_VERSION } from './workload-api.js';

/** The reporting controller every Event names (a qualified name, as the API server requires). */
export const REPORTING_CONTROLLER = 'iarnet.io/k8s-provider';

const NOTE_LIMIT_BYTES = 1024;
const INSTANCE_LIMIT = 128;
const WRITE_TIMEOUT_MS = 10_000;

export interface EventWriterOptions {
  readonly api: EventsV1Api;
  /** Where the workloads are (their Events go there too). */
  readonly namespace: string;
  /** The object that stands for the daemon itself: its own Pod in-cluster, else the session Lease. Resolved when first needed. */
  readonly daemonObject: () => Promise<V1ObjectReference | undefined>;
  /** This replica (pod name or host name). */
  readonly reportingInstance: string;
  readonly timing: SeriesTiming;
  readonly rate: { readonly burst: number; readonly perSecond: number };
  readonly log: Logger;
  readonly observer?: EventWriteObserver | undefined;
  readonly now?: () => number;
}

interface Pending {
  readonly input: EventInput;
}

export class KubeEventWriter implements EventRecorder {
  private readonly book: EventSeriesBook<Pending>;
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private readonly instance: string;
  private running = false;
  private woken = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private loop: Promise<void> = Promise.resolve();
  /** Cuts a write in flight when the daemon stops, so shutdown never waits on a hung API server. */
  private readonly stopping = new AbortController();
  /** Failed writes since the last success; the first of a run is logged. */
  private failing = 0;
  private daemonRef: V1ObjectReference | undefined;

  constructor(private readonly options: EventWriterOptions) {
    this.book = new EventSeriesBook(options.timing);
    this.bucket = new TokenBucket(options.rate.burst, options.rate.perSecond);
    this.now = options.now ?? Date.now;
    this.instance = options.reportingInstance.slice(0, INSTANCE_LIMIT) || 'unknown';
  }

  record(input: EventInput): void {
    if (this.stopped) return;
    try {
      this.options.observer?.eventRecorded(input.reason);
      if (!this.book.observe(seriesKey(input), { input }, this.now())) {
        this.options.observer?.eventsDropped('queue_full', 1);
        return;
      }
      this.wake();
    } catch (err) {
      // The contract: never throw into the caller.
      this.options.log.debug({ err: (err as Error).message, reason: input.reason }, 'event not recorded');
    }
  }

  /** Occurrences not yet written. */
  pending(): number {
    return this.book.pending();
  }

  /**
   * On shutdown: writes what is still unwritten (series counts included,
   * ignoring their pacing) for at most `withinMs`, then stops.
   */
  async stop(withinMs = 2000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.loop;
    const deadline = this.now() + withinMs;
    for (let w = this.book.next(this.now(), true); w && this.now() < deadline; w = this.book.next(this.now(), true)) {
      await this.perform(w, AbortSignal.timeout(Math.max(1, deadline - this.now())));
    }
    const left = this.book.pending();
    if (left > 0) this.options.observer?.eventsDropped('write_failed', left);
  }

  private wake(): void {
    if (this.running || this.woken) return;
    this.woken = true;
    // After the current call has answered: recording must not add to its latency.
    setImmediate(() => {
      this.woken = false;
      this.start();
    });
  }

  private start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.drain().finally(() => {
      this.running = false;
      this.arm();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const now = this.now();
      this.book.sweep(now);
      if (this.bucket.readyAt(now) > now) return;
      const write = this.book.next(now);
      if (!write) return;
      this.bucket.take(now);
      await this.perform(write, AbortSignal.any([this.stopping.signal, AbortSignal.timeout(WRITE_TIMEOUT_MS)]), true);
    }
  }

  /** Sets the timer for the next due write or finish (no earlier than the bucket allows). */
  private arm(): void {
    if (this.stopped) return;
    const now = this.now();
    let at = this.book.nextAt();
    if (at !== undefined && at <= now) at = this.bucket.readyAt(now);
    if (at === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.start();
      },
      Math.max(0, at - now),
    );
    this.timer.unref();
  }

  /** `cutByStop`: a failure after stop() began is the cut, not the API server's answer: the final flush writes it again. */
  private async perform(write: SeriesWrite<Pending>, signal: AbortSignal, cutByStop = false): Promise<void> {
    let result: WriteResult;
    try {
      const name = write.op === 'create' ? await this.create(write, signal) : await this.patch(write, signal);
      result = { outcome: 'ok', name };
      this.options.observer?.eventWritten(write.op, true);
      if (this.failing > 0) {
        this.options.log.info({ failedWrites: this.failing }, 'writing Kubernetes Events again');
        this.failing = 0;
      }
    } catch (err) {
      const cut = cutByStop && this.stopping.signal.aborted;
      if (!cut) this.options.observer?.eventWritten(write.op, false);
      result = { outcome: cut ? 'cancelled' : classify(write.op, err) };
      if (result.outcome !== 'gone' && result.outcome !== 'cancelled') {
        if (this.failing === 0) {
          this.options.log.warn(
            { err: (err as Error).message, code: httpStatusOf(err), reason: write.first.input.reason, operation: write.op },
            'cannot write Kubernetes Events (best effort: RPCs are not affected; further failures are counted, not logged, until a write succeeds)',
          );
        }
        this.failing++;
      }
    }
    const dropped = this.book.finish(write.key, result, this.now());
    if (dropped > 0) this.options.observer?.eventsDropped('write_failed', dropped);
  }

  private async create(write: Extract<SeriesWrite<Pending>, { op: 'create' }>, signal: AbortSignal): Promise<string> {
    const { input } = write.first;
    const regarding = await this.reference(input.subject);
    if (!regarding) throw new Error('the object that stands for the daemon could not be found');
    const namespace = regarding.namespace ?? this.options.namespace;
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: eventName(regarding.name ?? 'k8s-provider', write.firstAt), namespace },
      eventTime: new V1MicroTime(write.firstAt),
      ...(write.count > 1 ? { series: { count: write.count, lastObservedTime: new V1MicroTime(write.lastAt) } } : {}),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      action: input.action,
      reason: input.reason,
      type: typeOf(input.reason),
      note: cutNote(input.note),
      regarding,
      ...(input.related ? { related: this.workloadRef(input.related) } : {}),
    };
    const created = await this.options.api.createNamespacedEvent({ namespace, body }, abortWith(signal));
    return created.metadata?.name ?? body.metadata?.name ?? '';
  }

  private async patch(write: Extract<SeriesWrite<Pending>, { op: 'patch' }>, signal: AbortSignal): Promise<string> {
    const regarding = await this.reference(write.first.input.subject);
    const namespace = regarding?.namespace ?? this.options.namespace;
    const body = { series: { count: write.count, lastObservedTime: new V1MicroTime(write.lastAt) } };
    await this.options.api.patchNamespacedEvent(
      { name: write.name, namespace, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch, abortWith(signal)),
    );
    return write.name;
  }

  private async reference(subject: EventInput['subject']): Promise<V1ObjectReference | undefined> {
    if (subject !== 'daemon') return this.workloadRef(subject);
    // Looked up until found, then kept: the Lease (when it stands for the daemon) may not exist before the first Connect.
    this.daemonRef ??= await this.options.daemonObject();
    return this.daemonRef;
  }

  private workloadRef(o: WorkloadObject): V1ObjectReference {
    return workloadReference(o, this.options.namespace);
  }
}

/** An Event's `regarding` (or `related`) workload, in the API group of its kind. */
export function workloadReference(o: WorkloadObject, namespace: string): V1ObjectReference {
  return { apiVersion: WORKLOAD_API_VERSION[o.kind], kind: o.kind, name: o.name, namespace, ...(o.uid ? { uid: o.uid } : {}) };
}

/** Occurrences with this key are one series. */
export function seriesKey(e: EventInput): string {
  const object = (o: WorkloadObject | 'daemon' | undefined): string =>
    o === undefined ? '' : o === 'daemon' ? 'daemon' : `${o.kind}/${o.name}/${o.uid ?? ''}`;
  return JSON.stringify([object(e.subject), object(e.related), e.reason, e.action, e.seriesKey ?? e.note]);
}

/**
 * Which failures are worth another try: the API server busy or away is;
 * a refusal (no permission, invalid, namespace gone) is not. A patch of an
 * Event that is gone (expired) starts a new one.
 */
export function classify(op: 'create' | 'patch', err: unknown): 'gone' | 'retry' | 'fatal' {
  const code = httpStatusOf(err);
  if (code === 404 && op === 'patch') return 'gone';
  if (code === undefined || code === 429 || code >= 500) return 'retry';
  return 'fatal';
}

/** Like client-go: the regarding object's name and the time, unique enough with a few random bits; a DNS subdomain. */
export function eventName(regardingName: string, at: number): string {
  const suffix = `${(BigInt(Math.round(at)) * 1_000_000n).toString(16)}${randomBytes(2).toString('hex')}`;
  const base = regardingName.slice(0, 253 - suffix.length - 1).replace(/[-.]+$/, '');
  return `${base}.${suffix}`;
}

/** The API server counts the note in bytes. */
export function cutNote(note: string): string {
  if (Buffer.byteLength(note) <= NOTE_LIMIT_BYTES) return note;
  let cut = note.slice(0, NOTE_LIMIT_BYTES - 3);
  while (Buffer.byteLength(cut) > NOTE_LIMIT_BYTES - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** The downward-API variables that say the daemon runs in a pod (k8s-deployment.yaml and the chart set them). */
export interface PodIdentityEnv {
  readonly POD_NAME?: string | undefined;
  readonly POD_NAMESPACE?: string | undefined;
  readonly POD_UID?: string | undefined;
}

/**
 * What stands for the daemon in its Events: its own Pod when it runs in
 * one (POD_NAME and POD_NAMESPACE set), so `kubectl describe pod` of the
 * daemon shows its session history; else (run locally) the session Lease,
 * whose uid is read from the lease informer or, before it has it, the API.
 */
export function daemonObject(
  env: PodIdentityEnv,
  lease: { readonly name: string; readonly namespace: string; find(): V1Lease | undefined; get(): Promise<V1Lease | undefined> },
): () => Promise<V1ObjectReference | undefined> {
  if (env.POD_NAME && env.POD_NAMESPACE) {
    const pod: V1ObjectReference = {
      apiVersion: 'v1',
      kind: 'Pod',
      name: env.POD_NAME,
      namespace: env.POD_NAMESPACE,
      ...(env.POD_UID ? { uid: env.POD_UID } : {}),
    };
    return () => Promise.resolve(pod);
  }
  return async () => {
    const found = lease.find() ?? (await lease.get());
    const uid = found?.metadata?.uid;
    // Without its uid the Event would not show in `kubectl describe lease`: wait for the Lease (the first Connect creates it).
    if (!uid) return undefined;
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: lease.name, namespace: lease.namespace, uid };
  };
}

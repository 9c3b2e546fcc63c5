/**
 * A self-healing informer. client-node's ListWatch relists by itself after
 * 410 Gone but stops for good on any other error, and a watch can go silent
 * without one; so this restarts it with backoff after errors and replaces it
 * with a freshly listed one every resync period. Readers always see a
 * complete cache: a replacement is swapped in only once its list succeeded.
 */
import {
  ListWatch as ClientListWatch,
  makeInformer,
  type Informer as ClientInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '../../core/ports.js';
import type { InformerStats, WatchEventObserver } from '../../shared/observability.js';
import { retryAfterMs } from '../../shared/kube-api-errors.js';
import { sleep as realSleep } from './retry.js';
import { SlimWatch } from './slim-list.js';

type ListWatch<T extends KubernetesObject> = ClientInformer<T> & ObjectCache<T>;

const DEFAULT_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const;
/** A Retry-After longer than this is not honoured in full: a watch must not stay down for minutes on one answer. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * How long a failed watch waits before it lists again: exponential backoff
 * from the failures in a row, but never less than the Retry-After of a
 * throttled (429) or unavailable (503) list, so that a restarting fleet of
 * watches does not hammer an API server that asked for a pause.
 */
export function restartDelayMs(failures: number, backoff: { readonly baseMs: number; readonly maxMs: number }, err: unknown): number {
  const exponential = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 16));
  const asked = retryAfterMs(err);
  return asked === undefined ? exponential : Math.max(exponential, Math.min(asked, MAX_RETRY_AFTER_MS));
}

export interface InformerOptions<T extends KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** The watch path, e.g. /api/v1/namespaces/default/pods */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string | undefined;
  /** What the cache keeps of each watched object (the list function slims its own items). */
  readonly slim?: ((item: T) => T) | undefined;
  readonly resyncMs: number;
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  readonly log: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told how long each watch event took to apply, from its arrival to the end of every listener. */
  readonly events?: WatchEventObserver | undefined;
}

/** What a listener hears: one object changed, or the whole collection was listed afresh. */
export type CollectionChange<T> = { readonly type: 'added' | 'modified' | 'deleted'; readonly object: T } | { readonly type: 'reset' };

export type { InformerStats };

export class Informer<T extends KubernetesObject> {
  private current: ListWatch<T> | undefined;
  private isSynced = false;
  private stopped = true;
  private failures = 0;
  private restartScheduled = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(change: CollectionChange<T>) => void>();
  private stats = { restarts: 0, resyncs: 0, lastEventAt: undefined as number | undefined };
  /** Bumped on every change, so readers can memoise derived views. */
  version = 0;

  constructor(private readonly options: InformerOptions<T>) {}

  get name(): string {
    return this.options.name;
  }

  /** Resolves once the first list has succeeded and the watch is open (it keeps retrying until then). */
  async start(): Promise<void> {
    this.stopped = false;
    const informer = this.makeInformer();
    this.wire(informer);
    this.current = informer;
    await this.startInformer(informer);
    while (!this.isSynced && !this.stopped) await this.sleep(100);
    if (this.stopped) return; // stopped before its first list succeeded (e.g. the start-up check failed)
    this.resyncTimer = setInterval(() => void this.resync(), this.options.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.isSynced = false;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.current?.stop();
  }

  items(): readonly T[] {
    return this.current?.list() ?? [];
  }

  synced(): boolean {
    return this.isSynced;
  }

  informerStats(): InformerStats {
    return { ...this.stats };
  }

  onChange(listener: (change: CollectionChange<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Lists afresh and swaps the new cache in; the old watch is closed after the swap. */
  async resync(): Promise<void> {
    if (this.stopped) return;
    const fresh = this.makeInformer();
    this.wire(fresh);
    let failed = false;
    fresh.on('error', () => {
      failed = true;
    });
    await fresh.start();
    if (failed || this.stopped) {
      await fresh.stop();
      return;
    }
    const old = this.current;
    this.current = fresh;
    this.isSynced = true;
    this.failures = 0;
    this.stats.resyncs++;
    await old?.stop();
    this.changed({ type: 'reset' });
  }

  private makeInformer(): ListWatch<T> {
    const { kubeConfig, path, list, labelSelector, slim } = this.options;
    if (!slim) return makeInformer<T>(kubeConfig, path, list, labelSelector) as ListWatch<T>;
    return new ClientListWatch<T>(path, new SlimWatch(kubeConfig, slim), list, false, labelSelector);
  }

  private wire(informer: ListWatch<T>): void {
    const on =
      (type: 'added' | 'modified' | 'deleted') =>
      (object: T): void => {
        if (this.current !== informer) return;
        this.stats.lastEventAt = Date.now();
        // Events of the first list arrive before the collection is synced: the reset that follows covers them.
        if (!this.isSynced) return;
        const arrived = process.hrtime.bigint();
        this.changed({ type, object });
        this.options.events?.watchEventApplied(this.options.name, Number(process.hrtime.bigint() - arrived) / 1e9);
      };
    informer.on('add', on('added'));
    informer.on('update', on('modified'));
    informer.on('delete', on('deleted'));
    informer.on('error', (err: unknown) => {
      if (this.current !== informer || this.stopped) return;
      this.isSynced = false;
      this.options.log.warn({ informer: this.options.name, err: String((err as Error)?.message ?? err) }, 'watch failed; restarting');
      this.scheduleRestart(informer, err);
    });
  }

  private async startInformer(informer: ListWatch<T>): Promise<void> {
    const before = this.failures;
    let failed = false;
    const onError = (): void => {
      failed = true;
    };
    informer.on('error', onError);
    await informer.start();
    informer.off('error', onError);
    if (!failed && this.current === informer && !this.stopped) {
      if (!this.isSynced && before > 0) this.options.log.info({ informer: this.options.name }, 'watch restored');
      this.isSynced = true;
      this.failures = 0;
      this.changed({ type: 'reset' });
    }
  }

  private scheduleRestart(informer: ListWatch<T>, err: unknown): void {
    if (this.restartScheduled) return;
    this.restartScheduled = true;
    this.failures++;
    const delay = restartDelayMs(this.failures, this.options.backoff ?? DEFAULT_BACKOFF, err);
    void this.sleep(delay).then(async () => {
      if (this.stopped || this.current !== informer) {
        this.restartScheduled = false;
        return;
      }
      this.stats.restarts++;
      this.restartScheduled = false;
      // start() resumes from the last resourceVersion; if that is too old the API answers 410 and the informer relists.
      await this.startInformer(informer);
    });
  }

  private sleep(ms: number): Promise<void> {
    return (this.options.sleep ?? realSleep)(ms);
  }

  private changed(change: CollectionChange<T>): void {
    this.version++;
    for (const l of this.listeners) l(change);
  }
}

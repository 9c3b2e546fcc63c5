/**
 * Fan-out of instance changes to any number of watchers from the one
 * tracker (one informer per collection, whatever the number of watchers).
 * Each watcher has a bounded queue: a watcher that falls behind by more than
 * `bufferSize` changes loses them and gets a resync marker followed by a
 * fresh snapshot instead, so a slow client can never make the daemon hold
 * unbounded memory.
 */
import type { InstanceEvent, InstanceTracker } from './instance-tracker.js';
import type { InstanceStatus } from './instance-status.js';

export type WatchItem =
  | { readonly type: 'added' | 'modified' | 'deleted'; readonly instance: InstanceStatus }
  /** The snapshot is complete: what follows are live changes. */
  | { readonly type: 'synced' }
  /** This watcher fell behind and changes were dropped: forget what you hold, a fresh snapshot follows. */
  | { readonly type: 'resync' };

export interface WatchOptions {
  readonly bufferSize: number;
  /** Told each time a watcher is given a resync (it fell behind, or the daemon relisted). */
  readonly onResync?: (() => void) | undefined;
}

export interface WatchStatsSnapshot {
  readonly watchers: number;
  readonly resyncs: number;
}

class Watcher {
  private queue: WatchItem[] = [];
  private head = 0;
  /** Where live changes start in the queue: the snapshot before it does not count against the buffer. */
  private liveStart = 0;
  private wake: (() => void) | undefined;
  closed = false;

  constructor(
    private readonly bufferSize: number,
    private readonly snapshot: () => readonly InstanceStatus[],
    private readonly onOverflow: () => void,
  ) {
    this.fill(false);
  }

  /** Items waiting to be taken; at most one snapshot plus bufferSize changes. */
  pending(): number {
    return this.queue.length - this.head;
  }

  push(item: WatchItem): void {
    if (this.closed) return;
    if (this.queue.length - Math.max(this.head, this.liveStart) >= this.bufferSize) {
      // Behind by a whole buffer: what it missed is cheaper to resend as a snapshot than to keep.
      this.onOverflow();
      this.fill(true);
    } else {
      this.queue.push(item);
    }
    this.notify();
  }

  /** Replaces everything queued by a marker and the current snapshot. */
  fill(resync: boolean): void {
    const items: WatchItem[] = resync ? [{ type: 'resync' }] : [];
    for (const instance of this.snapshot()) items.push({ type: 'added', instance });
    items.push({ type: 'synced' });
    this.queue = items;
    this.head = 0;
    this.liveStart = items.length;
  }

  take(): WatchItem | undefined {
    const item = this.queue[this.head];
    if (item === undefined) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.liveStart = Math.max(0, this.liveStart - this.head);
      this.head = 0;
    }
    return item;
  }

  waitForItem(): Promise<void> {
    if (this.pending() > 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export interface Subscription extends AsyncIterable<WatchItem> {
  /** Ends the iteration and frees the queue; safe to call more than once. */
  close(): void;
  /** Items queued and not yet taken (for tests and metrics). */
  pending(): number;
}

export class InstanceWatchHub {
  private readonly watchers = new Set<Watcher>();
  private resyncs = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly tracker: InstanceTracker,
    private readonly options: WatchOptions,
  ) {
    this.unsubscribe = tracker.onEvent((e) => this.dispatch(e));
  }

  stats(): WatchStatsSnapshot {
    return { watchers: this.watchers.size, resyncs: this.resyncs };
  }

  /** Starts with the current snapshot and a `synced` marker, then every change. */
  subscribe(): Subscription {
    const w = new Watcher(
      this.options.bufferSize,
      () => this.tracker.list(),
      () => this.resynced(),
    );
    this.watchers.add(w);
    const close = (): void => {
      w.closed = true;
      this.watchers.delete(w);
      w.notify();
    };
    return {
      close,
      pending: () => w.pending(),
      [Symbol.asyncIterator]: async function* () {
        try {
          for (;;) {
            await w.waitForItem();
            if (w.closed) return;
            for (let item = w.take(); item; item = w.take()) yield item;
          }
        } finally {
          close();
        }
      },
    };
  }

  private resynced(): void {
    this.resyncs++;
    this.options.onResync?.();
  }

  /** Ends every watch (daemon shutdown). */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const w of [...this.watchers]) {
      w.closed = true;
      w.notify();
    }
    this.watchers.clear();
  }

  /**
   * Tells watchers of a change to what is reported beside an instance's
   * status (its Service or NetworkPolicy), which the tracker does not see.
   */
  republish(instance: InstanceStatus): void {
    this.dispatch({ type: 'modified', instance });
  }

  private dispatch(event: InstanceEvent): void {
    for (const w of this.watchers) {
      w.push(event);
    }
  }
}

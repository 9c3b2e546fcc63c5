/**
 * The bookkeeping behind Event aggregation, pure (time is an argument), in
 * the manner of events.k8s.io/v1 series: the first occurrence of an event is
 * created as an Event; repeats only raise a count in memory, and the count
 * (series.count, series.lastObservedTime) is patched onto the same Event at
 * most once per `writeIntervalMs`. A series with no occurrence for
 * `finishAfterMs` is finished (its last count written first), so a later
 * occurrence starts a new Event. Writes are paced by a token bucket shared
 * by all series; the book holds at most `maxEntries` series and drops what
 * does not fit, so memory stays bounded whatever the rate of occurrences.
 */

export interface SeriesTiming {
  /** A series is written at most this often (its first write is not delayed). */
  readonly writeIntervalMs: number;
  /** A series idle this long is finished once written. */
  readonly finishAfterMs: number;
  /** Series kept at most; an occurrence that finds no room is dropped. */
  readonly maxEntries: number;
  /** Failed writes of a series before its pending occurrences are dropped. */
  readonly maxAttempts: number;
  /** Wait after the first failed write; doubled per further failure. */
  readonly retryBaseMs: number;
}

interface Entry<T> {
  readonly key: string;
  /** The first occurrence: what the Event says. */
  readonly first: T;
  readonly firstAt: number;
  lastAt: number;
  /** Occurrences seen. */
  count: number;
  /** Occurrences the API server holds (0: no Event yet). */
  written: number;
  /** The Event's name once created. */
  name: string | undefined;
  /** The count a write in flight carries; undefined when none is in flight. */
  writing: number | undefined;
  lastWriteAt: number;
  attempts: number;
  retryAt: number;
}

/** One write to carry out: create the Event, or patch the count of the one created before. */
export type SeriesWrite<T> =
  | { readonly op: 'create'; readonly key: string; readonly first: T; readonly firstAt: number; readonly count: number; readonly lastAt: number }
  | { readonly op: 'patch'; readonly key: string; readonly name: string; readonly first: T; readonly count: number; readonly lastAt: number };

/**
 * How a write ended. 'gone': the Event to patch no longer exists (expired);
 * 'retry' and 'fatal' are failures; 'cancelled': cut by the writer itself
 * (shutdown), so due again at once, with no back-off.
 */
export type WriteResult = { readonly outcome: 'ok'; readonly name: string } | { readonly outcome: 'gone' | 'retry' | 'fatal' | 'cancelled' };

export class EventSeriesBook<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly timing: SeriesTiming) {}

  /** Records one occurrence; false when the book is full of series still to be written (the occurrence is dropped). */
  observe(key: string, event: T, now: number): boolean {
    const found = this.entries.get(key);
    if (found) {
      found.count++;
      found.lastAt = now;
      // Map order is recency order: the least recently seen series is evicted first.
      this.entries.delete(key);
      this.entries.set(key, found);
      return true;
    }
    if (this.entries.size >= this.timing.maxEntries && !this.evictOne()) return false;
    this.entries.set(key, {
      key,
      first: event,
      firstAt: now,
      lastAt: now,
      count: 1,
      written: 0,
      name: undefined,
      writing: undefined,
      lastWriteAt: Number.NEGATIVE_INFINITY,
      attempts: 0,
      retryAt: Number.NEGATIVE_INFINITY,
    });
    return true;
  }

  /** Series kept (written or not). */
  size(): number {
    return this.entries.size;
  }

  /** Occurrences seen but not yet written, over all series. */
  pending(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.count - e.written;
    return n;
  }

  /** When the entry may be written next, or undefined when it has nothing to write or a write in flight. */
  private dueAt(e: Entry<T>, ignoreInterval: boolean): number | undefined {
    if (e.writing !== undefined || e.count === e.written) return undefined;
    const paced = e.written === 0 || ignoreInterval ? Number.NEGATIVE_INFINITY : e.lastWriteAt + this.timing.writeIntervalMs;
    return Math.max(paced, e.retryAt);
  }

  /**
   * Starts the next write due at `now` (the oldest first), or undefined.
   * With `ignoreInterval` (shutdown) every unwritten count is due.
   */
  next(now: number, ignoreInterval = false): SeriesWrite<T> | undefined {
    let best: Entry<T> | undefined;
    let bestAt = Number.POSITIVE_INFINITY;
    for (const e of this.entries.values()) {
      const at = this.dueAt(e, ignoreInterval);
      if (at !== undefined && at <= now && (best === undefined || at < bestAt)) {
        best = e;
        bestAt = at;
      }
    }
    if (!best) return undefined;
    best.writing = best.count;
    if (best.name === undefined) return { op: 'create', key: best.key, first: best.first, firstAt: best.firstAt, count: best.count, lastAt: best.lastAt };
    return { op: 'patch', key: best.key, name: best.name, first: best.first, count: best.count, lastAt: best.lastAt };
  }

  /**
   * Ends the write started for `key`; returns how many occurrences were
   * dropped because of it (the write failed for good).
   */
  finish(key: string, result: WriteResult, now: number): number {
    const e = this.entries.get(key);
    if (!e || e.writing === undefined) return 0;
    const count = e.writing;
    e.writing = undefined;
    switch (result.outcome) {
      case 'ok':
        e.written = count;
        e.name = result.name;
        e.lastWriteAt = now;
        e.attempts = 0;
        e.retryAt = Number.NEGATIVE_INFINITY;
        return 0;
      case 'gone':
        // The API server let the Event expire while the series went on: start a new Event with the whole count.
        e.name = undefined;
        e.written = 0;
        e.retryAt = Number.NEGATIVE_INFINITY;
        return 0;
      case 'retry':
        e.attempts++;
        if (e.attempts < this.timing.maxAttempts) {
          e.retryAt = now + this.timing.retryBaseMs * 2 ** (e.attempts - 1);
          return 0;
        }
        return this.drop(e);
      case 'fatal':
        return this.drop(e);
      case 'cancelled':
        return 0;
    }
  }

  /** Gives up the unwritten occurrences; the series goes (a later occurrence starts a new one). */
  private drop(e: Entry<T>): number {
    this.entries.delete(e.key);
    return e.count - e.written;
  }

  /** Removes finished series: written in full and idle for finishAfterMs. */
  sweep(now: number): void {
    for (const e of [...this.entries.values()]) {
      if (e.writing === undefined && e.count === e.written && now - e.lastAt >= this.timing.finishAfterMs) this.entries.delete(e.key);
    }
  }

  /** The earliest time something is due (a write or a finish), or undefined when nothing waits. */
  nextAt(ignoreInterval = false): number | undefined {
    let at: number | undefined;
    for (const e of this.entries.values()) {
      const due = this.dueAt(e, ignoreInterval) ?? (e.writing === undefined ? e.lastAt + this.timing.finishAfterMs : undefined);
      if (due !== undefined) at = at === undefined ? due : Math.min(at, due);
    }
    return at;
  }

  /** Makes room by forgetting the least recently seen series that has nothing left to write. */
  private evictOne(): boolean {
    for (const e of this.entries.values()) {
      if (e.writing === undefined && e.count === e.written) {
        this.entries.delete(e.key);
        return true;
      }
    }
    return false;
  }
}

/**
 * A token bucket: `burst` writes at once, then `perSecond`. Pure: the caller
 * passes the time.
 */
export class TokenBucket {
  private tokens: number;
  private at: number | undefined;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  private refill(now: number): void {
    if (this.at !== undefined) this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }

  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** When the next token is there. */
  readyAt(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? now : now + Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

import { describe, expect, it } from 'vitest';
import { EventSeriesBook, TokenBucket, type SeriesTiming, type SeriesWrite } from './event-series.js';

const timing: SeriesTiming = { writeIntervalMs: 10_000, finishAfterMs: 360_000, maxEntries: 4, maxAttempts: 3, retryBaseMs: 1000 };

/** Carries out every due write at `now` as the API server accepting it, and returns them. */
function writeAll(book: EventSeriesBook<string>, now: number, ignoreInterval = false): SeriesWrite<string>[] {
  const done: SeriesWrite<string>[] = [];
  for (let w = book.next(now, ignoreInterval); w; w = book.next(now, ignoreInterval)) {
    done.push(w);
    book.finish(w.key, { outcome: 'ok', name: w.op === 'create' ? `ev-${w.key}` : w.name }, now);
  }
  return done;
}

describe('EventSeriesBook', () => {
  it('creates the first occurrence at once, then patches the count of repeats at most once per interval', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'first', 0);
    expect(writeAll(book, 0)).toEqual([{ op: 'create', key: 'k', first: 'first', firstAt: 0, count: 1, lastAt: 0 }]);
    // 1000 repeats within the interval: nothing is written yet.
    for (let i = 1; i <= 1000; i++) book.observe('k', `repeat ${i}`, i);
    expect(writeAll(book, 9_999)).toEqual([]);
    expect(book.pending()).toBe(1000);
    expect(book.nextAt()).toBe(10_000);
    // At the interval: one patch with the whole count and the last time seen; the first note stays.
    expect(writeAll(book, 10_000)).toEqual([{ op: 'patch', key: 'k', name: 'ev-k', first: 'first', count: 1001, lastAt: 1000 }]);
    expect(book.pending()).toBe(0);
    expect(writeAll(book, 20_000)).toEqual([]);
  });

  it('writes 1000 occurrences spread over a minute in a handful of writes', () => {
    const book = new EventSeriesBook<string>(timing);
    let writes = 0;
    for (let t = 0; t < 60_000; t += 60) {
      book.observe('k', 'x', t);
      writes += writeAll(book, t).length;
    }
    writes += writeAll(book, 120_000).length;
    expect(writes).toBeLessThanOrEqual(8);
    expect(book.pending()).toBe(0);
  });

  it('keeps different keys apart, and a create still in flight carries the count it started with', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('a', 'a', 0);
    book.observe('b', 'b', 0);
    const first = book.next(0)!;
    expect(first).toMatchObject({ op: 'create', key: 'a', count: 1 });
    // A repeat while the create is in flight is not lost: it is written after the interval.
    book.observe('a', 'a', 5);
    book.finish('a', { outcome: 'ok', name: 'ev-a' }, 10);
    expect(book.next(10)).toMatchObject({ op: 'create', key: 'b' });
    book.finish('b', { outcome: 'ok', name: 'ev-b' }, 10);
    expect(book.next(10)).toBeUndefined();
    expect(book.next(10_010)).toMatchObject({ op: 'patch', key: 'a', name: 'ev-a', count: 2, lastAt: 5 });
  });

  it('creates a new Event with the whole count when the one to patch has expired', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    writeAll(book, 0);
    book.observe('k', 'x', 1);
    const patch = book.next(10_000)!;
    expect(patch.op).toBe('patch');
    expect(book.finish('k', { outcome: 'gone' }, 10_000)).toBe(0);
    expect(book.next(10_000)).toMatchObject({ op: 'create', count: 2, firstAt: 0, lastAt: 1 });
  });

  it('retries a failed write with back-off, and drops the pending occurrences after maxAttempts', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    book.observe('k', 'x', 0);
    expect(book.next(0)).toBeDefined();
    expect(book.finish('k', { outcome: 'retry' }, 0)).toBe(0);
    expect(book.next(999)).toBeUndefined();
    expect(book.nextAt()).toBe(1000);
    expect(book.next(1000)).toBeDefined();
    expect(book.finish('k', { outcome: 'retry' }, 1000)).toBe(0);
    expect(book.next(2999)).toBeUndefined();
    expect(book.next(3000)).toBeDefined();
    expect(book.finish('k', { outcome: 'retry' }, 3000)).toBe(2);
    expect(book.size()).toBe(0);
  });

  it('writes a cancelled write again at once, without back-off', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    book.next(0);
    expect(book.finish('k', { outcome: 'cancelled' }, 0)).toBe(0);
    expect(book.next(0, true)).toMatchObject({ op: 'create', count: 1 });
  });

  it('drops at once what the API server refuses', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    book.next(0);
    expect(book.finish('k', { outcome: 'fatal' }, 0)).toBe(1);
    expect(book.pending()).toBe(0);
  });

  it('finishes a written series idle for finishAfterMs, so the next occurrence is a new Event', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    writeAll(book, 0);
    book.sweep(359_999);
    expect(book.size()).toBe(1);
    expect(book.nextAt()).toBe(360_000);
    book.sweep(360_000);
    expect(book.size()).toBe(0);
    book.observe('k', 'x', 400_000);
    expect(book.next(400_000)).toMatchObject({ op: 'create', firstAt: 400_000 });
  });

  it('never finishes a series whose count is not written yet', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    writeAll(book, 0);
    book.observe('k', 'x', 1);
    book.sweep(1_000_000);
    expect(book.pending()).toBe(1);
  });

  it('is bounded: evicts the least recently seen written series, and drops an occurrence when all are unwritten', () => {
    const book = new EventSeriesBook<string>(timing);
    for (const k of ['a', 'b', 'c', 'd']) book.observe(k, k, 0);
    expect(book.observe('e', 'e', 0)).toBe(false);
    writeAll(book, 0);
    book.observe('a', 'a', 1); // a is now the most recently seen
    expect(book.observe('e', 'e', 2)).toBe(true);
    expect(book.size()).toBe(4);
    // b (written, least recently seen) made room; e (never written) goes first, then a's repeat.
    expect(writeAll(book, 10_000).map((w) => `${w.op} ${w.key}`)).toEqual(['create e', 'patch a']);
  });

  it('writes every unwritten count at once when the interval is ignored (shutdown)', () => {
    const book = new EventSeriesBook<string>(timing);
    book.observe('k', 'x', 0);
    writeAll(book, 0);
    book.observe('k', 'x', 1);
    expect(writeAll(book, 2)).toEqual([]);
    expect(writeAll(book, 2, true)).toMatchObject([{ op: 'patch', count: 2 }]);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    const bucket = new TokenBucket(3, 2);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.readyAt(0)).toBe(500);
    expect(bucket.take(499)).toBe(false);
    expect(bucket.take(500)).toBe(true);
    // Idle time refills up to the burst, no further.
    expect(bucket.readyAt(100_000)).toBe(100_000);
    expect([bucket.take(100_000), bucket.take(100_000), bucket.take(100_000), bucket.take(100_000)]).toEqual([true, true, true, false]);
  });
});

/**
 * A SessionStore held in memory: for a single process that needs no
 * persistence, and for unit tests of the core. Writes are immediate, so
 * `touch` is persisted at once and `flush` has nothing to do.
 */
import type { SessionRecord, SessionStore } from './ports.js';

export class MemorySessionStore implements SessionStore {
  private record: SessionRecord | undefined;
  /** Counts writes, so callers can see what a write-behind saved. */
  writes = 0;

  constructor(initial?: SessionRecord) {
    this.record = initial;
  }

  current(): SessionRecord | undefined {
    return this.record;
  }

  update(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined> {
    try {
      this.record = mutate(this.record);
      this.writes++;
      return Promise.resolve(this.record);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  touch(providerId: string, at: number): void {
    if (this.record?.providerId !== providerId || at <= this.record.lastSeen) return;
    this.record = { ...this.record, lastSeen: at };
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }
}

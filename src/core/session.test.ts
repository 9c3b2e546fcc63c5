import { describe, expect, it } from 'vitest';
import { DomainError, ErrorKind } from './errors.js';
import { Session } from './session.js';
import { MemorySessionStore } from './memory-session-store.js';
import type { Logger, SessionRecord, SessionStore } from './ports.js';
import type { EventInput } from './events.js';

class ManualClock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
}

function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string | undefined; obj: object }> } {
  const lines: Array<{ level: string; msg: string | undefined; obj: object }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, msg, obj });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function kindOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return err instanceof DomainError ? `${err.kind}: ${err.message}` : String(err);
  }
  return 'ok';
}

describe('Session', () => {
  const setup = (store: SessionStore = new MemorySessionStore()) => {
    const clock = new ManualClock();
    const log = recordingLogger();
    return { clock, log, store, session: new Session(store, clock, 90_000, log) };
  };

  it('refuses an empty provider id', async () => {
    const { session } = setup();
    expect(await kindOf(() => session.connect(''))).toBe(`${ErrorKind.InvalidArgument}: provider_id is required`);
    expect(session.current()).toBeUndefined();
  });

  it('accepts a reconnect with the same id and refuses another id, naming the connected one', async () => {
    const { session, clock } = setup();
    await session.connect('cp-1');
    clock.t += 1000;
    expect(await kindOf(() => session.connect('cp-1'))).toBe('ok');
    expect(await kindOf(() => session.connect('cp-2'))).toBe(`${ErrorKind.FailedPrecondition}: provider is already connected to "cp-1"`);
    // A reconnect keeps the original connect time and refreshes last-seen.
    expect(session.current()).toEqual({ providerId: 'cp-1', connectedAt: 1_000_000, lastSeen: 1_001_000 });
  });

  it('guards RPCs: no session is FAILED_PRECONDITION, a wrong or missing id is PERMISSION_DENIED', async () => {
    const { session } = setup();
    expect(await kindOf(() => session.verify('cp-1'))).toMatch(/^FAILED_PRECONDITION: no control plane is connected/);
    await session.connect('cp-1');
    expect(await kindOf(() => session.verify('cp-2'))).toBe('PERMISSION_DENIED: provider_id "cp-2" is not the connected provider');
    expect(await kindOf(() => session.verify(''))).toBe('PERMISSION_DENIED: provider_id is required');
    expect(await kindOf(() => session.verify('cp-1'))).toBe('ok');
  });

  it('lets anyone read capacity before Connect, and only the owner after', async () => {
    const { session } = setup();
    expect(await kindOf(() => session.verifyIfConnected(''))).toBe('ok');
    await session.connect('cp-1');
    expect(await kindOf(() => session.verifyIfConnected('other'))).toMatch(/^PERMISSION_DENIED/);
    expect(await kindOf(() => session.verifyIfConnected('cp-1'))).toBe('ok');
  });

  it('expires after the health timeout without HealthCheck, with one log line, and lets another id in', async () => {
    const { session, clock, log } = setup();
    await session.connect('cp-1');
    clock.t += 60_000;
    session.heartbeat('cp-1');
    clock.t += 90_000; // exactly the timeout since the last HealthCheck: still alive
    expect(session.current()?.providerId).toBe('cp-1');
    clock.t += 1;
    session.expireIfIdle();
    session.expireIfIdle();
    expect(session.current()).toBeUndefined();
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.obj])).toEqual([
      ['session expired: no HealthCheck within the timeout', { providerId: 'cp-1', idleSeconds: 90, timeoutSeconds: 90 }],
    ]);
    expect(await kindOf(() => session.connect('cp-2'))).toBe('ok');
  });

  it('Disconnect drops the session only for its owner', async () => {
    const { session } = setup();
    await session.connect('cp-1');
    expect(await kindOf(() => session.disconnect('cp-2'))).toMatch(/^PERMISSION_DENIED/);
    await session.disconnect('cp-1');
    expect(session.current()).toBeUndefined();
    expect(await kindOf(() => session.disconnect('cp-1'))).toMatch(/^FAILED_PRECONDITION/);
  });

  it('continues a persisted session without Connect, and times it out from the persisted last-seen', async () => {
    // What a restarted daemon finds: the record a previous process wrote.
    const clock = new ManualClock();
    const store = new MemorySessionStore({ providerId: 'cp-1', connectedAt: clock.t - 200_000, lastSeen: clock.t - 30_000 });
    const session = new Session(store, clock, 90_000, recordingLogger());
    expect(await kindOf(() => session.verify('cp-1'))).toBe('ok');
    expect(await kindOf(() => session.verify('cp-2'))).toMatch(/^PERMISSION_DENIED/);
    expect(await kindOf(() => session.connect('cp-2'))).toMatch(/^FAILED_PRECONDITION: provider is already connected to "cp-1"/);
    clock.t += 60_001; // 90 s and 1 ms after the persisted last-seen
    expect(session.current()).toBeUndefined();
    expect(await kindOf(() => session.connect('cp-2'))).toBe('ok');
  });

  it('HealthCheck touches the store without writing through; Connect and Disconnect write through', async () => {
    const store = new CountingStore();
    const { session, clock } = setup(store);
    await session.connect('cp-1');
    for (let i = 0; i < 10; i++) {
      clock.t += 1000;
      session.heartbeat('cp-1');
    }
    expect(store.updates).toBe(1);
    expect(store.touches).toEqual(Array.from({ length: 10 }, (_, i) => 1_001_000 + i * 1000));
    await session.disconnect('cp-1');
    expect(store.updates).toBe(2);
  });

  it('re-runs the decision on the freshest record when another replica wrote first', async () => {
    // The compare-and-set found a session of cp-0 written meanwhile by the other replica.
    const store = new RacingStore({ providerId: 'cp-0', connectedAt: 1_000_000, lastSeen: 1_000_000 });
    const { session } = setup(store);
    expect(await kindOf(() => session.connect('cp-1'))).toBe(`${ErrorKind.FailedPrecondition}: provider is already connected to "cp-0"`);
    expect(store.current()?.providerId).toBe('cp-0');
  });

  it('a store that cannot be reached fails Connect and leaves the session as it was', async () => {
    const store = new MemorySessionStore();
    const { session } = setup({
      current: () => store.current(),
      touch: () => {},
      flush: () => store.flush(),
      refresh: () => store.refresh(),
      update: () => Promise.reject(new Error('API down')),
    });
    expect(await kindOf(() => session.connect('cp-1'))).toBe('Error: API down');
    expect(session.current()).toBeUndefined();
  });

  it('counts how sessions ended: by Disconnect or by timeout, once each', async () => {
    const { session, clock } = setup();
    expect(session.ends()).toEqual({ disconnects: 0, expirations: 0 });
    await session.connect('cp-1');
    await session.disconnect('cp-1');
    await session.connect('cp-1');
    clock.t += 90_001;
    session.expireIfIdle();
    session.expireIfIdle();
    expect(session.current()).toBeUndefined();
    expect(session.ends()).toEqual({ disconnects: 1, expirations: 1 });
  });
});

describe('Session.verifyFresh', () => {
  it('reads the store afresh before refusing, so a Connect the other replica just wrote is seen', async () => {
    const clock = new ManualClock();
    const behind = new LaggingStore({ providerId: 'cp-1', connectedAt: clock.t, lastSeen: clock.t });
    const session = new Session(behind, clock, 90_000, recordingLogger());
    expect(await kindOf(() => session.verify('cp-1'))).toMatch(/^FAILED_PRECONDITION/);
    expect(await kindOf(() => session.verifyFresh('cp-1'))).toBe('ok');
    expect(behind.refreshes).toBe(1);
    // An answer that holds after the fresh read is the answer.
    expect(await kindOf(() => session.verifyFresh('cp-2'))).toMatch(/^PERMISSION_DENIED/);
    // A passing check costs no read.
    await session.verifyFresh('cp-1');
    expect(behind.refreshes).toBe(2);
  });
});

/** A copy that has not seen the other replica's write until refresh(). */
class LaggingStore extends MemorySessionStore {
  refreshes = 0;
  constructor(private readonly persisted: SessionRecord) {
    super();
  }
  override refresh(): Promise<void> {
    this.refreshes++;
    return super.update(() => this.persisted).then(() => undefined);
  }
}

class CountingStore extends MemorySessionStore {
  updates = 0;
  readonly touches: number[] = [];
  override update(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined> {
    this.updates++;
    return super.update(mutate);
  }
  override touch(providerId: string, at: number): void {
    this.touches.push(at);
    super.touch(providerId, at);
  }
}

/** The first attempt conflicts: the other replica's record appears, and mutate runs again on it. */
class RacingStore extends MemorySessionStore {
  constructor(private readonly other: SessionRecord) {
    super();
  }
  private raced = false;
  override update(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined> {
    if (!this.raced) {
      this.raced = true;
      mutate(this.current()); // computed on a stale read, then the write conflicts
      return super.update(() => this.other).then(() => super.update(mutate));
    }
    return super.update(mutate);
  }
}

describe('Session events', () => {
  const setup = () => {
    const clock = new ManualClock();
    const seen: EventInput[] = [];
    const session = new Session(new MemorySessionStore(), clock, 90_000, recordingLogger(), { record: (e) => void seen.push(e) });
    const reasons = (): string[] => seen.map((e) => `${e.reason} ${e.note}`);
    return { clock, seen, session, reasons };
  };

  it('records Connected for a new session only, ConnectRefused naming both ids, and Disconnected, all on the daemon', async () => {
    const { session, seen, reasons } = setup();
    await session.connect('cp-1');
    await session.connect('cp-1');
    await kindOf(() => session.connect('cp-2'));
    await session.disconnect('cp-1');
    expect(reasons()).toEqual([
      'Connected provider "cp-1" connected',
      'ConnectRefused Connect from provider "cp-2" refused: "cp-1" is connected',
      'Disconnected provider "cp-1" disconnected',
    ]);
    expect(seen.every((e) => e.subject === 'daemon')).toBe(true);
  });

  it('records SessionExpired once per session, however often expiry is checked', async () => {
    const { session, clock, reasons } = setup();
    await session.connect('cp');
    clock.t += 91_000;
    session.expireIfIdle();
    session.expireIfIdle();
    expect(session.current()).toBeUndefined();
    expect(reasons()).toEqual([
      'Connected provider "cp" connected',
      'SessionExpired session of provider "cp" expired: no HealthCheck for 91 s (session.health_timeout_seconds: 90)',
    ]);
    // A new session after expiry is news again.
    await session.connect('cp');
    expect(reasons().at(-1)).toBe('Connected provider "cp" connected');
  });

  it('records nothing when the store cannot be written (the call fails, nothing happened)', async () => {
    const failing: SessionStore = {
      current: () => undefined,
      refresh: async () => {},
      update: async () => {
        throw new DomainError(ErrorKind.Unavailable, 'store down');
      },
      touch: () => {},
      flush: async () => {},
    };
    const seen: EventInput[] = [];
    const session = new Session(failing, new ManualClock(), 90_000, recordingLogger(), { record: (e) => void seen.push(e) });
    expect(await kindOf(() => session.connect('cp'))).toBe(`${ErrorKind.Unavailable}: store down`);
    expect(seen).toEqual([]);
  });
});

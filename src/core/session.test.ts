import { describe, expect, it } from 'vitest';
import { DomainError, ErrorKind } from './errors.js';
import { Session } from './session.js';
import type { Logger } from './ports.js';

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

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? `${err.kind}: ${err.message}` : String(err);
  }
  return 'ok';
}

describe('Session', () => {
  const setup = () => {
    const clock = new ManualClock();
    const log = recordingLogger();
    return { clock, log, session: new Session(clock, 90_000, log) };
  };

  it('refuses an empty provider id', () => {
    const { session } = setup();
    expect(kindOf(() => session.connect(''))).toBe(`${ErrorKind.InvalidArgument}: provider_id is required`);
    expect(session.current()).toBeUndefined();
  });

  it('accepts a reconnect with the same id and refuses another id, naming the connected one', () => {
    const { session } = setup();
    session.connect('cp-1');
    expect(kindOf(() => session.connect('cp-1'))).toBe('ok');
    expect(kindOf(() => session.connect('cp-2'))).toBe(`${ErrorKind.FailedPrecondition}: provider is already connected to "cp-1"`);
    expect(session.current()?.providerId).toBe('cp-1');
  });

  it('guards RPCs: no session is FAILED_PRECONDITION, a wrong or missing id is PERMISSION_DENIED', () => {
    const { session } = setup();
    expect(kindOf(() => session.verify('cp-1'))).toMatch(/^FAILED_PRECONDITION: no control plane is connected/);
    session.connect('cp-1');
    expect(kindOf(() => session.verify('cp-2'))).toBe('PERMISSION_DENIED: provider_id "cp-2" is not the connected provider');
    expect(kindOf(() => session.verify(''))).toBe('PERMISSION_DENIED: provider_id is required');
    expect(kindOf(() => session.verify('cp-1'))).toBe('ok');
  });

  it('lets anyone read capacity before Connect, and only the owner after', () => {
    const { session } = setup();
    expect(kindOf(() => session.verifyIfConnected(''))).toBe('ok');
    session.connect('cp-1');
    expect(kindOf(() => session.verifyIfConnected('other'))).toMatch(/^PERMISSION_DENIED/);
    expect(kindOf(() => session.verifyIfConnected('cp-1'))).toBe('ok');
  });

  it('expires after the health timeout without HealthCheck, with a log line, and lets another id in', () => {
    const { session, clock, log } = setup();
    session.connect('cp-1');
    clock.t += 60_000;
    session.heartbeat('cp-1');
    clock.t += 90_000; // exactly the timeout since the last HealthCheck: still alive
    expect(session.current()?.providerId).toBe('cp-1');
    clock.t += 1;
    session.expireIfIdle();
    expect(session.current()).toBeUndefined();
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.obj])).toEqual([
      ['session expired: no HealthCheck within the timeout', { providerId: 'cp-1', idleSeconds: 90, timeoutSeconds: 90 }],
    ]);
    expect(kindOf(() => session.connect('cp-2'))).toBe('ok');
  });

  it('Disconnect drops the session only for its owner', () => {
    const { session } = setup();
    session.connect('cp-1');
    expect(kindOf(() => session.disconnect('cp-2'))).toMatch(/^PERMISSION_DENIED/);
    session.disconnect('cp-1');
    expect(session.current()).toBeUndefined();
    expect(kindOf(() => session.disconnect('cp-1'))).toMatch(/^FAILED_PRECONDITION/);
  });

  it('counts how sessions ended: by Disconnect or by timeout, once each', () => {
    const { session, clock } = setup();
    expect(session.ends()).toEqual({ disconnects: 0, expirations: 0 });
    session.connect('cp-1');
    session.disconnect('cp-1');
    session.connect('cp-1');
    clock.t += 90_001;
    session.expireIfIdle();
    session.expireIfIdle();
    expect(session.current()).toBeUndefined();
    expect(session.ends()).toEqual({ disconnects: 1, expirations: 1 });
  });
});

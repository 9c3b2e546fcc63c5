/**
 * The control-plane session: at most one provider_id is connected at a time,
 * and it lapses when HealthCheck stops arriving so another control plane can
 * take over. The state lives in a SessionStore (the cluster, in production),
 * so it outlives the process: Connect and Disconnect write through, checks
 * read the store's local copy, and HealthCheck only touches it (write-behind).
 */
import { failedPrecondition, invalidArgument, permissionDenied } from './errors.js';
import { noEvents, type EventRecorder } from './events.js';
import type { Clock, Logger, SessionRecord, SessionStore } from './ports.js';

export type SessionState = SessionRecord;

/** Sessions ended since start, for the metrics. */
export interface SessionEnds {
  readonly disconnects: number;
  readonly expirations: number;
}

export class Session {
  /** The session (id and connect time) whose expiry was last logged, so the warning appears once. */
  private expiredLogged = '';
  private readonly counts = { disconnects: 0, expirations: 0 };

  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    private readonly healthTimeoutMs: number,
    private readonly log: Logger,
    private readonly events: EventRecorder = noEvents,
  ) {}

  /** The live session, or undefined when nobody is connected or the last one timed out. */
  current(): SessionState | undefined {
    return this.live(this.store.current());
  }

  /** Reconnecting with the connected id succeeds; another id is refused while one is connected. */
  async connect(providerId: string): Promise<void> {
    if (!providerId) throw invalidArgument('provider_id is required');
    let reconnect = false;
    let holder: string | undefined;
    try {
      await this.store.update((stored) => {
        const live = this.live(stored);
        holder = live?.providerId;
        if (live && live.providerId !== providerId) {
          throw failedPrecondition(`provider is already connected to "${live.providerId}"`);
        }
        reconnect = live !== undefined;
        const now = this.clock.now();
        return { providerId, connectedAt: live?.connectedAt ?? now, lastSeen: now };
      });
    } catch (err) {
      if (holder !== undefined && holder !== providerId) {
        this.events.record({
          subject: 'daemon',
          reason: 'ConnectRefused',
          action: 'Connect',
          note: `Connect from provider "${providerId}" refused: "${holder}" is connected`,
        });
      }
      throw err;
    }
    this.log.info({ providerId, reconnect }, 'session connected');
    // A reconnect (a retried Connect) is not news: it would only repeat the event.
    if (!reconnect) this.events.record({ subject: 'daemon', reason: 'Connected', action: 'Connect', note: `provider "${providerId}" connected` });
  }

  async disconnect(providerId: string): Promise<void> {
    this.verify(providerId);
    await this.store.update((stored) => {
      const live = this.live(stored);
      // Another replica may have seen a Disconnect (or a new Connect) first.
      if (!live) return undefined;
      if (live.providerId !== providerId) throw permissionDenied(`provider_id "${providerId}" is not the connected provider`);
      return undefined;
    });
    this.log.info({ providerId }, 'session disconnected');
    this.counts.disconnects++;
    this.events.record({ subject: 'daemon', reason: 'Disconnected', action: 'Disconnect', note: `provider "${providerId}" disconnected` });
  }

  /** Sessions ended by this replica since it started (Disconnect here, or a timeout it noticed), for the metrics. */
  ends(): SessionEnds {
    return { ...this.counts };
  }

  /** For RPCs that need a session: the caller must be the connected provider. */
  verify(providerId: string): SessionState {
    const state = this.current();
    if (!state) throw failedPrecondition('no control plane is connected: call Connect first');
    if (!providerId) throw permissionDenied('provider_id is required');
    if (providerId !== state.providerId) {
      throw permissionDenied(`provider_id "${providerId}" is not the connected provider`);
    }
    return state;
  }

  /**
   * verify for mutations: a Connect written by the other replica reaches this
   * one through a watch, milliseconds later; before refusing, read the store
   * afresh once. Costs a read only on the failure path.
   */
  async verifyFresh(providerId: string): Promise<SessionState> {
    try {
      return this.verify(providerId);
    } catch (err) {
      try {
        await this.store.refresh();
      } catch {
        throw err; // the first answer stands when the store cannot be read
      }
      return this.verify(providerId);
    }
  }

  /** For RPCs allowed before Connect: anyone may ask until a session exists, then only its owner. */
  verifyIfConnected(providerId: string): void {
    if (this.current()) this.verify(providerId);
  }

  /** HealthCheck keeps the session alive; the store persists it later, so this costs no I/O. */
  heartbeat(providerId: string): void {
    this.verify(providerId);
    this.store.touch(providerId, this.clock.now());
  }

  /** Logs a session that timed out; called by a timer, as expiry itself is computed on every read. */
  expireIfIdle(): void {
    this.current();
  }

  /**
   * Expiry follows the stored last-seen, so it continues across restarts: a
   * control plane that vanished while the daemon was down still times out.
   */
  private live(record: SessionRecord | undefined): SessionRecord | undefined {
    if (!record) return undefined;
    const idle = this.clock.now() - record.lastSeen;
    if (idle <= this.healthTimeoutMs) return record;
    const key = `${record.providerId}@${record.connectedAt}`;
    if (this.expiredLogged !== key) {
      this.expiredLogged = key;
      this.counts.expirations++;
      this.log.warn(
        { providerId: record.providerId, idleSeconds: Math.round(idle / 1000), timeoutSeconds: this.healthTimeoutMs / 1000 },
        'session expired: no HealthCheck within the timeout',
      );
      this.events.record({
        subject: 'daemon',
        reason: 'SessionExpired',
        action: 'Expire',
        note: `session of provider "${record.providerId}" expired: no HealthCheck for ${Math.round(idle / 1000)} s (session.health_timeout_seconds: ${this.healthTimeoutMs / 1000})`,
      });
    }
    return undefined;
  }
}

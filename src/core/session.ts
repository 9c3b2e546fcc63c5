/**
 * The control-plane session: at most one provider_id is connected at a time,
 * and it lapses when HealthCheck stops arriving so another control plane can
 * take over.
 */
import { failedPrecondition, invalidArgument, permissionDenied } from './errors.js';
import type { Clock, Logger } from './ports.js';

export interface SessionState {
  readonly providerId: string;
  readonly connectedAt: number;
  readonly lastHealthCheck: number;
}

/** Sessions ended since start, for the metrics. */
export interface SessionEnds {
  readonly disconnects: number;
  readonly expirations: number;
}

export class Session {
  private state: SessionState | undefined;
  private readonly counts = { disconnects: 0, expirations: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly healthTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  current(): SessionState | undefined {
    this.expireIfIdle();
    return this.state;
  }

  /** Reconnecting with the connected id succeeds; another id is refused while one is connected. */
  connect(providerId: string): void {
    if (!providerId) throw invalidArgument('provider_id is required');
    this.expireIfIdle();
    if (this.state && this.state.providerId !== providerId) {
      throw failedPrecondition(`provider is already connected to "${this.state.providerId}"`);
    }
    const now = this.clock.now();
    const reconnect = this.state !== undefined;
    this.state = { providerId, connectedAt: this.state?.connectedAt ?? now, lastHealthCheck: now };
    this.log.info({ providerId, reconnect }, 'session connected');
  }

  disconnect(providerId: string): void {
    this.verify(providerId);
    this.log.info({ providerId }, 'session disconnected');
    this.state = undefined;
    this.counts.disconnects++;
  }

  ends(): SessionEnds {
    return { ...this.counts };
  }

  /** For RPCs that need a session: the caller must be the connected provider. */
  verify(providerId: string): SessionState {
    this.expireIfIdle();
    if (!this.state) throw failedPrecondition('no control plane is connected: call Connect first');
    if (!providerId) throw permissionDenied('provider_id is required');
    if (providerId !== this.state.providerId) {
      throw permissionDenied(`provider_id "${providerId}" is not the connected provider`);
    }
    return this.state;
  }

  /** For RPCs allowed before Connect: anyone may ask until a session exists, then only its owner. */
  verifyIfConnected(providerId: string): void {
    if (this.current()) this.verify(providerId);
  }

  /** HealthCheck keeps the session alive. */
  heartbeat(providerId: string): void {
    const state = this.verify(providerId);
    this.state = { ...state, lastHealthCheck: this.clock.now() };
  }

  /** Drops the session when no HealthCheck arrived in time; called on every use and by a timer. */
  expireIfIdle(): void {
    if (!this.state) return;
    const idle = this.clock.now() - this.state.lastHealthCheck;
    if (idle <= this.healthTimeoutMs) return;
    this.log.warn(
      { providerId: this.state.providerId, idleSeconds: Math.round(idle / 1000), timeoutSeconds: this.healthTimeoutMs / 1000 },
      'session expired: no HealthCheck within the timeout',
    );
    this.state = undefined;
    this.counts.expirations++;
  }
}

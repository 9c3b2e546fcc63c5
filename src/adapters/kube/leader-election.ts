/**
 * Leader election over a coordination.k8s.io Lease, with the semantics of
 * client-go's leaderelection package:
 * - a candidate takes the Lease when nobody holds it, or when the holder's
 *   record has not changed for leaseDurationSeconds as measured on the
 *   candidate's own monotonic clock from when it observed that record (so
 *   clock skew between nodes does not matter);
 * - the holder renews every retry period and steps down when no renewal has
 *   succeeded within the renew deadline, which is shorter than the lease
 *   duration: it stops admitting before anyone else may take over;
 * - on shutdown the holder releases the Lease (empty holder), and a standby
 *   that watches the Lease takes it at once instead of waiting it out.
 * The Lease also carries the holder's address, for forwarded calls.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { V1Lease } from '@kubernetes/client-node';
import type { Leadership, Logger } from '../../core/ports.js';
import { ANNOTATION_ADDRESS, isConflict, microTime, newer, type LeaseClient } from './leases.js';
import type { Informer } from './informer.js';

export interface ElectionTiming {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface LeaderElectorOptions {
  readonly client: LeaseClient;
  readonly leases: Informer<V1Lease>;
  readonly name: string;
  readonly identity: string;
  /** host:port where the other replica reaches this one (known once the server listens). */
  readonly address: () => string;
  readonly timing: ElectionTiming;
  readonly log: Logger;
  /** Monotonic ms; injectable for tests. */
  readonly monotonic?: () => number;
}

/** Who is active, as this replica knows it. */
export interface LeaderInfo {
  readonly identity: string;
  readonly leading: boolean;
  /** The holder of a valid lease (this replica included), if any. */
  readonly leader: { readonly identity: string; readonly address: string | undefined } | undefined;
  /** spec.leaseTransitions as last observed. */
  readonly leaseTransitions: number | undefined;
}

/** AbortSignal.timeout takes whole milliseconds only. */
const timeout = (ms: number): AbortSignal => AbortSignal.timeout(Math.max(1, Math.ceil(ms)));

/** client-go's JitterFactor: candidates spread their retries over 1.0 to 1.2 retry periods. */
const JITTER = 0.2;

/**
 * The holder identity: the configured one, else the pod name (POD_NAME from
 * the downward API), else hostname_pid, so two processes on one machine are
 * two candidates.
 */
export function replicaIdentity(configured: string, env: NodeJS.ProcessEnv, pid: number = process.pid): string {
  return configured || env.POD_NAME || `${hostname()}_${pid}`;
}

/** host:port the other replica dials: the configured one, else POD_IP, else the listen host unless it is a wildcard. */
export function replicaAddress(configured: string, env: NodeJS.ProcessEnv, listenHost: string, port: number): string {
  if (configured) return configured;
  const host = env.POD_IP || (listenHost === '0.0.0.0' || listenHost === '::' ? hostname() : listenHost);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class LeaderElector implements Leadership {
  private leading: { controller: AbortController; renewedAt: number; deadline: NodeJS.Timeout } | undefined;
  /** The Lease as last seen, and when (monotonic) its record last changed: the base of expiry. */
  private observed: { lease: V1Lease; key: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the observed holder's lease runs out, so a standby takes over then and not up to a retry period later. */
  private expiryTimer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private stopped = true;
  /** Shutting down: admit nothing new, but let what was admitted finish before the release. */
  private resigning = false;
  private readonly listeners = new Set<(leading: boolean) => void>();
  private readonly monotonic: () => number;

  constructor(private readonly options: LeaderElectorOptions) {
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  get identity(): string {
    return this.options.identity;
  }

  start(): void {
    this.stopped = false;
    // Never unsubscribed: a stopped elector still follows the Lease (see stop()).
    this.options.leases.onChange(() => this.onWatch());
    this.observe(this.fromWatch());
    this.schedule(0);
  }

  /**
   * Stops campaigning and, when active, hands over: admits nothing new,
   * waits for `settle` (creates already admitted) for at most `settleMs`
   * while still renewing, then releases the Lease so the standby takes over
   * at once instead of waiting for it to expire. It goes on following the
   * Lease through the watch: Deploys still draining on this replica are
   * forwarded to whoever takes over, which it would otherwise never learn.
   */
  async stop(settle: () => Promise<void> = () => Promise.resolve(), settleMs = 2000): Promise<void> {
    this.resigning = true;
    if (this.leading) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settle(), new Promise<void>((r) => (timer = setTimeout(r, settleMs)))]);
      clearTimeout(timer);
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    await this.attempt;
    await this.release();
  }

  term(): AbortSignal | undefined {
    const leading = this.leading;
    if (!leading) return undefined;
    // Asked at every admission: the deadline timer may be late on a busy event loop, this check is not.
    if (this.monotonic() - leading.renewedAt >= this.options.timing.renewDeadlineMs) {
      this.stepDown('renew deadline passed');
      return undefined;
    }
    return this.resigning ? undefined : leading.controller.signal;
  }

  isLeading(): boolean {
    return this.term() !== undefined;
  }

  info(): LeaderInfo {
    const lease = this.observed?.lease;
    const holder = lease?.spec?.holderIdentity;
    const valid = holder && (holder === this.identity ? this.isLeading() : !this.expired());
    return {
      identity: this.identity,
      leading: this.isLeading(),
      leader: valid ? { identity: holder, address: lease.metadata?.annotations?.[ANNOTATION_ADDRESS] } : undefined,
      leaseTransitions: lease?.spec?.leaseTransitions,
    };
  }

  /** Calls the listener whenever this replica starts (true) or stops (false) being the active one. */
  onChange(listener: (leading: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runAttempt(), ms);
  }

  private runAttempt(): void {
    if (this.attempt || this.stopped) return;
    this.attempt = this.tryAcquireOrRenew()
      .catch((err: unknown) => this.options.log.error({ lease: this.options.name, err: (err as Error).message }, 'leader election attempt failed'))
      .finally(() => {
        this.attempt = undefined;
        const { retryPeriodMs } = this.options.timing;
        this.schedule(this.leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * JITTER));
      });
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { client, timing } = this.options;
    const started = this.monotonic();
    const leading = this.leading;
    // A renewal may take what is left of the renew deadline; a campaign one renew deadline.
    const budget = leading ? leading.renewedAt + timing.renewDeadlineMs - started : timing.renewDeadlineMs;
    if (budget <= 0) {
      this.stepDown('renew deadline passed');
      return;
    }
    const base = this.observed?.lease;
    const holder = base?.spec?.holderIdentity;
    if (base && holder && holder !== this.identity && !this.expired()) return; // someone else holds a valid lease
    try {
      const written = await client.write(this.claim(base), timeout(budget));
      this.observe(written);
      if (this.stopped && !this.leading) return;
      if (this.leading) this.renewed(started);
      else this.becomeLeader(started, written);
    } catch (err) {
      await this.failed(err);
    }
  }

  /** The Lease as this replica would hold it: renewed, or taken over (a new acquire time, one more transition). */
  private claim(base: V1Lease | undefined): V1Lease {
    const { client, name, timing } = this.options;
    const now = Date.now();
    const holder = base?.spec?.holderIdentity;
    const taking = holder !== this.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(base?.metadata ?? { name, namespace: client.namespace }),
        annotations: { ...base?.metadata?.annotations, [ANNOTATION_ADDRESS]: this.options.address() },
      },
      spec: {
        ...base?.spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(timing.leaseDurationMs / 1000),
        acquireTime: taking ? microTime(now) : (base?.spec?.acquireTime ?? microTime(now)),
        renewTime: microTime(now),
        leaseTransitions: (base?.spec?.leaseTransitions ?? 0) + (taking && holder ? 1 : 0),
      },
    };
  }

  private async failed(err: unknown): Promise<void> {
    const { client, name, timing, log } = this.options;
    if (isConflict(err)) {
      // Another candidate (or our own stale copy) got in first: read afresh for the next try.
      try {
        this.observe(await client.get(name, timeout(timing.retryPeriodMs)));
      } catch {
        /* the next try reads again */
      }
    } else {
      log.warn(
        { lease: name, leading: Boolean(this.leading), err: (err as Error).message },
        this.leading ? 'could not renew the leader lease' : 'could not acquire the leader lease',
      );
    }
    if (this.leading && this.monotonic() - this.leading.renewedAt >= timing.renewDeadlineMs) this.stepDown('renew deadline passed');
  }

  private becomeLeader(renewedAt: number, lease: V1Lease): void {
    const controller = new AbortController();
    // Every create of the term listens on this one signal; hundreds at once are normal, not a leak.
    setMaxListeners(0, controller.signal);
    this.leading = { controller, renewedAt, deadline: this.deadlineTimer(renewedAt) };
    this.options.log.info(
      { identity: this.identity, lease: this.options.name, leaseTransitions: lease.spec?.leaseTransitions ?? 0, address: this.options.address() },
      'became the active replica (leader lease acquired)',
    );
    for (const l of this.listeners) l(true);
  }

  private renewed(renewedAt: number): void {
    if (!this.leading) return;
    clearTimeout(this.leading.deadline);
    this.leading.renewedAt = renewedAt;
    this.leading.deadline = this.deadlineTimer(renewedAt);
  }

  /** Steps down on time even when no admission asks and the renew call hangs. */
  private deadlineTimer(renewedAt: number): NodeJS.Timeout {
    const t = setTimeout(() => this.term(), Math.max(0, renewedAt + this.options.timing.renewDeadlineMs - this.monotonic()));
    t.unref();
    return t;
  }

  private stepDown(reason: string): void {
    const leading = this.leading;
    if (!leading) return;
    this.leading = undefined;
    clearTimeout(leading.deadline);
    leading.controller.abort();
    this.options.log.warn({ identity: this.identity, lease: this.options.name, reason }, 'stopped being the active replica');
    for (const l of this.listeners) l(false);
  }

  /** Gives the Lease up at once (client-go's ReleaseOnCancel), so the standby need not wait it out. */
  private async release(): Promise<void> {
    const leading = this.leading;
    if (!leading) return;
    this.stepDown('released on shutdown');
    const base = this.observed?.lease;
    if (base?.spec?.holderIdentity !== this.identity) return;
    const { client, name, log } = this.options;
    try {
      const released = await client.write(
        { ...base, spec: { ...base.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } },
        timeout(this.options.timing.retryPeriodMs),
      );
      this.observe(released);
      log.info({ identity: this.identity, lease: name }, 'leader lease released');
    } catch (err) {
      log.warn(
        { identity: this.identity, lease: name, err: (err as Error).message },
        'could not release the leader lease; the standby takes over when it expires',
      );
    }
  }

  private onWatch(): void {
    this.observe(this.fromWatch());
    const holder = this.observed?.lease.spec?.holderIdentity;
    if (this.leading && holder && holder !== this.identity) {
      this.stepDown(`the lease is held by ${holder}`);
      return;
    }
    // Released or lapsed: campaign now rather than at the next retry.
    if (!this.leading && !this.attempt && (!holder || this.expired())) this.schedule(0);
  }

  private expired(): boolean {
    const o = this.observed;
    if (!o) return true;
    const seconds = o.lease.spec?.leaseDurationSeconds ?? Math.ceil(this.options.timing.leaseDurationMs / 1000);
    return this.monotonic() - o.at > seconds * 1000;
  }

  private fromWatch(): V1Lease | undefined {
    return this.options.leases.items().find((l) => l.metadata?.name === this.options.name);
  }

  /** Records a copy of the Lease; the expiry clock restarts only when the record itself changed. */
  private observe(lease: V1Lease | undefined): void {
    if (!lease) return;
    const latest = newer(this.observed?.lease, lease) ?? lease;
    const s = latest.spec;
    const key = `${s?.holderIdentity ?? ''}|${String(s?.renewTime ?? '')}|${String(s?.acquireTime ?? '')}|${s?.leaseTransitions ?? 0}`;
    if (this.observed?.key === key) {
      this.observed = { ...this.observed, lease: latest };
      return;
    }
    const before = this.observed?.lease.spec?.holderIdentity;
    this.observed = { lease: latest, key, at: this.monotonic() };
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const holder = s?.holderIdentity;
    if (before !== undefined && holder !== before) {
      this.options.log.info(
        { lease: this.options.name, from: before || null, to: holder || null, leaseTransitions: s?.leaseTransitions ?? 0 },
        'leader lease changed hands',
      );
    }
    if (holder && holder !== this.identity && !this.stopped) {
      const seconds = s?.leaseDurationSeconds ?? Math.ceil(this.options.timing.leaseDurationMs / 1000);
      this.expiryTimer = setTimeout(
        () => {
          if (!this.leading && !this.attempt && this.expired()) this.schedule(0);
        },
        seconds * 1000 + 10,
      );
      this.expiryTimer.unref();
    }
  }
}

/**
 * The session kept in a coordination.k8s.io Lease of the daemon's namespace,
 * so a restarted replica, or the other one, continues it without a new
 * Connect. The fields map one to one:
 *   holderIdentity = provider_id, acquireTime = connected-at,
 *   renewTime = last-seen, leaseDurationSeconds = the health timeout
 * (for people reading it with kubectl); no holder means nobody is connected.
 *
 * Reads come from the shared Lease watch and cost nothing. Connect and
 * Disconnect write through with the resourceVersion they were decided on.
 * HealthCheck only touches: last-seen is written when the persisted one is
 * at least `persistIntervalMs` old, in the background, so a control plane
 * checking every 30 s costs one write per check and one checking every
 * second costs one write per interval.
 */
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger, SessionRecord, SessionStore } from '../../core/ports.js';
import { isConflict, isNotFound, microTime, newer, timeOf, type LeaseClient } from './leases.js';
import type { Informer } from './informer.js';

export interface SessionLeaseOptions {
  readonly client: LeaseClient;
  readonly leases: Informer<V1Lease>;
  readonly name: string;
  readonly healthTimeoutSeconds: number;
  readonly persistIntervalMs: number;
  readonly log: Logger;
}

export interface SessionWriteStats {
  /** Connect and Disconnect, written through. */
  readonly writeThrough: number;
  /** Last-seen, written behind. */
  readonly lastSeen: number;
  readonly failed: number;
}

const MAX_ATTEMPTS = 5;

export function sessionOf(lease: V1Lease | undefined): SessionRecord | undefined {
  const providerId = lease?.spec?.holderIdentity;
  if (!providerId) return undefined;
  const lastSeen = timeOf(lease.spec?.renewTime);
  const connectedAt = timeOf(lease.spec?.acquireTime) ?? lastSeen;
  // A holder without times was not written by us: treat it as long expired rather than guess.
  return { providerId, connectedAt: connectedAt ?? 0, lastSeen: lastSeen ?? 0 };
}

const sameSession = (a: SessionRecord | undefined, b: SessionRecord | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.providerId === b.providerId && a.connectedAt === b.connectedAt && a.lastSeen === b.lastSeen);

export class LeaseSessionStore implements SessionStore {
  private lease: V1Lease | undefined;
  /** The newest local HealthCheck not yet persisted. */
  private seen: { providerId: string; connectedAt: number; at: number } | undefined;
  private persisting: Promise<void> | undefined;
  private readonly unsubscribe: () => void;
  private stats = { writeThrough: 0, lastSeen: 0, failed: 0 };

  constructor(private readonly options: SessionLeaseOptions) {
    this.adopt(this.fromWatch());
    this.unsubscribe = options.leases.onChange(() => this.adopt(this.fromWatch()));
  }

  stop(): void {
    this.unsubscribe();
  }

  /** sessionOf the current Lease, parsed once per Lease object: every poll reads it, often several times. */
  private parsed: { lease: V1Lease | undefined; session: SessionRecord | undefined } = { lease: undefined, session: undefined };
  private stored(): SessionRecord | undefined {
    if (this.parsed.lease !== this.lease) this.parsed = { lease: this.lease, session: sessionOf(this.lease) };
    return this.parsed.session;
  }

  writeStats(): SessionWriteStats {
    return { ...this.stats };
  }

  current(): SessionRecord | undefined {
    const stored = this.stored();
    const seen = this.seen;
    if (!stored || !seen || seen.providerId !== stored.providerId || seen.connectedAt !== stored.connectedAt || seen.at <= stored.lastSeen) return stored;
    return { ...stored, lastSeen: seen.at };
  }

  async update(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined> {
    const stored = await this.write(mutate);
    this.stats.writeThrough++;
    return stored;
  }

  touch(providerId: string, at: number): void {
    const stored = this.stored();
    if (!stored || stored.providerId !== providerId) return;
    if (!this.seen || this.seen.providerId !== providerId || this.seen.connectedAt !== stored.connectedAt) {
      this.seen = { providerId, connectedAt: stored.connectedAt, at };
    } else if (at > this.seen.at) this.seen.at = at; // in place: every HealthCheck comes here
    if (at - stored.lastSeen >= this.options.persistIntervalMs) this.persistSeen();
  }

  async flush(): Promise<void> {
    await this.persisting;
    const stored = this.stored();
    if (this.seen && stored && this.seen.at > stored.lastSeen) {
      this.persistSeen();
      await this.persisting;
    }
  }

  async refresh(): Promise<void> {
    const fresh = await this.options.client.get(this.options.name);
    // Gone means deleted by hand: nobody is connected any more.
    this.lease = fresh ? newer(this.lease, fresh) : undefined;
  }

  private persistSeen(): void {
    if (this.persisting !== undefined) return;
    const seen = this.seen;
    if (!seen) return;
    this.persisting = this.write((current) =>
      current && current.providerId === seen.providerId && current.connectedAt === seen.connectedAt && seen.at > current.lastSeen
        ? { ...current, lastSeen: seen.at }
        : current,
    ).then(
      () => {
        this.stats.lastSeen++;
      },
      (err: unknown) => {
        // The next HealthCheck tries again; until then the session lives on in memory.
        this.stats.failed++;
        this.options.log.warn({ lease: this.options.name, err: (err as Error).message }, 'could not persist the session last-seen time; will retry');
      },
    );
    void this.persisting.finally(() => {
      this.persisting = undefined;
    });
  }

  /** Compare-and-set: decide on the freshest copy, write with its resourceVersion, and decide again after a conflict. */
  private async write(mutate: (current: SessionRecord | undefined) => SessionRecord | undefined): Promise<SessionRecord | undefined> {
    const { client, name } = this.options;
    let base = this.lease;
    for (let attempt = 1; ; attempt++) {
      const before = sessionOf(base);
      const next = mutate(before);
      if (base && sameSession(before, next)) return next;
      try {
        const written = await client.write(this.leaseFor(name, base, next));
        this.adopt(written);
        return sessionOf(written);
      } catch (err) {
        const retry = isConflict(err) || isNotFound(err);
        if (!retry || attempt >= MAX_ATTEMPTS) {
          if (!retry) this.stats.failed++;
          throw err;
        }
        // Someone else wrote first, or deleted the Lease (an operator resetting the session): read it again.
        base = await client.get(name);
        this.lease = base;
      }
    }
  }

  private leaseFor(name: string, base: V1Lease | undefined, next: SessionRecord | undefined): V1Lease {
    const metadata = base ? { ...base.metadata } : { name, namespace: this.options.client.namespace };
    const spec = { ...base?.spec, leaseDurationSeconds: this.options.healthTimeoutSeconds };
    if (next) {
      Object.assign(spec, { holderIdentity: next.providerId, acquireTime: microTime(next.connectedAt), renewTime: microTime(next.lastSeen) });
    } else {
      delete spec.holderIdentity;
      delete spec.acquireTime;
      delete spec.renewTime;
    }
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec };
  }

  private fromWatch(): V1Lease | undefined {
    return this.options.leases.items().find((l) => l.metadata?.name === this.options.name);
  }

  private adopt(lease: V1Lease | undefined): void {
    if (!lease) return;
    this.lease = newer(this.lease, lease);
  }
}

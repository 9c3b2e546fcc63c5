/**
 * Routing between replicas: both serve reads and session checks from the
 * shared session and their own synced books, and only the active replica
 * runs mutations. A Deploy (or Undeploy) that reaches the standby is
 * forwarded to the active replica's address (recorded in the leader Lease),
 * or, while no replica is active (the seconds of a fail-over), held for a
 * bounded time and then refused with UNAVAILABLE. Both are idempotent by
 * instance id, so a forward that failed on the way is simply tried again.
 */
import * as grpc from '@grpc/grpc-js';
import { DomainError, ErrorKind, unavailable } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';

/** Set on forwarded calls: the receiver answers itself and never forwards again. */
export const FORWARDED_BY = 'k8s-provider-forwarded-by';
/** Response metadata on every call: which replica answered, and which one is active. */
export const REPLICA_HEADER = 'k8s-provider-replica';
export const ACTIVE_HEADER = 'k8s-provider-active';

/** What routing needs to know about leadership (the kube adapter's elector, structurally). */
export interface ReplicaRole {
  readonly identity: string;
  isLeading(): boolean;
  info(): { readonly leader: { readonly identity: string; readonly address: string | undefined } | undefined };
}

export interface ForwardObserver {
  /** One per routed call that did not run here: sent (after a retry or not), or refused for want of an active replica. */
  forwarded(method: string, result: 'ok' | 'retried' | 'refused'): void;
}

export interface ForwarderOptions {
  readonly role: ReplicaRole;
  readonly credentials: grpc.ChannelCredentials;
  /** How long a mutation waits for an active replica before UNAVAILABLE. */
  readonly waitMs: number;
  readonly log: Logger;
  readonly observer?: ForwardObserver | undefined;
  readonly pollMs?: number;
}

/** The incoming call, as far as routing reads it. */
export interface IncomingCall {
  readonly metadata: grpc.Metadata;
  getDeadline(): grpc.Deadline;
}

/**
 * Runs mutations (Deploy, Undeploy) on the active replica. Any unary method
 * of any service can be routed: the method definition carries the path and
 * the (de)serialisers, so one generic client per leader address serves all.
 */
export class LeaderRouter {
  private client: { address: string; client: grpc.Client } | undefined;

  constructor(private readonly options: ForwarderOptions) {}

  /**
   * Runs `local` when this replica is active (or the call was forwarded to
   * it: it never forwards twice), else sends the call to the active replica.
   * While none is active it waits, at most `waitMs` and never past the
   * caller's deadline. `retryable` says which in-band answers mean "that
   * replica is no longer active": they are tried again like an unreachable one.
   */
  async route<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    call: IncomingCall,
    request: Req,
    local: () => Promise<Res>,
    retryable: (res: Res) => boolean = () => false,
  ): Promise<Res> {
    const { role } = this.options;
    // A forwarded call is answered here, never forwarded twice; the core refuses it if this replica does not admit.
    if (call.metadata.get(FORWARDED_BY).length > 0) return local();
    const deadline = call.getDeadline();
    const callDeadline = deadline instanceof Date ? deadline.getTime() : deadline;
    let giveUpAt = Math.min(Date.now() + this.options.waitMs, callDeadline - 200);
    let handedOver = false;
    for (let tries = 1; ; ) {
      // The core checks again at admission: leadership may lapse in between.
      if (role.isLeading()) {
        const here = await this.runHere(method, request, local, !handedOver);
        if ('answer' in here) return here.answer;
        handedOver = true;
        giveUpAt = Math.min(Date.now() + this.options.waitMs, callDeadline - 200);
        continue;
      }
      const leader = this.activeElsewhere();
      if (leader) {
        const outcome = await this.attempt(leader, method, request, callDeadline, retryable);
        const done = this.conclude(method, request, leader, outcome, tries++, Date.now() >= giveUpAt);
        if (done) return done.answer;
      }
      if (Date.now() >= giveUpAt) throw this.refuse(method, 'no replica is active (leader election in progress); retry shortly');
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? 50));
    }
  }

  /**
   * Runs the call on this, the active replica. When it fails UNAVAILABLE
   * because this replica stopped being the active one meanwhile (a hand-over
   * aborts the creates in flight once they had 2 s to land, which a slow API
   * server can take), and `mayHandOver`, the caller sends it to the successor
   * instead: mutations are idempotent by instance id, so a create that landed
   * anyway is found there, not made twice.
   */
  private async runHere<Res>(
    method: { readonly path: string },
    request: unknown,
    local: () => Promise<Res>,
    mayHandOver: boolean,
  ): Promise<{ answer: Res } | { handOver: true }> {
    try {
      return { answer: await local() };
    } catch (err) {
      const unavailableHere = err instanceof DomainError && err.kind === ErrorKind.Unavailable;
      if (!mayHandOver || !unavailableHere || this.options.role.isLeading()) throw err;
      this.options.log.info(
        { method: method.path, ...instanceOf(request), why: err.message },
        'stopped being the active replica during the call; sending it to the successor',
      );
      return { handOver: true };
    }
  }

  /** The active replica when it is another one with a known address. */
  private activeElsewhere(): { identity: string; address: string } | undefined {
    const leader = this.options.role.info().leader;
    if (!leader?.address || leader.identity === this.options.role.identity) return undefined;
    return { identity: leader.identity, address: leader.address };
  }

  /** The answer to return, undefined to wait and try again, or a refusal thrown. */
  private conclude<Res>(
    method: { readonly path: string },
    request: unknown,
    leader: { identity: string },
    outcome: { answer?: Res; failure?: string; retry: boolean; why?: string },
    tries: number,
    lastChance: boolean,
  ): { answer: Res } | undefined {
    if (outcome.retry && !lastChance) {
      this.options.log.info(
        { method: method.path, ...instanceOf(request), to: leader.identity, why: outcome.why },
        'no answer from an active replica yet; waiting',
      );
      return undefined;
    }
    if (outcome.answer !== undefined) {
      this.options.observer?.forwarded(method.path, tries > 1 ? 'retried' : 'ok');
      return { answer: outcome.answer };
    }
    throw this.refuse(method, outcome.failure ?? 'the active replica failed');
  }

  /** One forward: an answer (maybe one that says to try again), or a failure (maybe worth another try). */
  private async attempt<Req, Res>(
    leader: { identity: string; address: string },
    method: grpc.MethodDefinition<Req, Res>,
    request: Req,
    deadline: number,
    retryable: (res: Res) => boolean,
  ): Promise<{ answer?: Res; failure?: string; retry: boolean; why?: string }> {
    try {
      const answer = await this.forward(leader.address, method, request, deadline);
      return { answer, retry: retryable(answer), why: 'the replica forwarded to is no longer active' };
    } catch (err) {
      const e = err as grpc.ServiceError;
      return {
        failure: `the active replica ${leader.identity} (${leader.address}) failed: ${e.details}`,
        retry: e.code === grpc.status.UNAVAILABLE,
        why: e.details,
      };
    }
  }

  close(): void {
    this.client?.client.close();
    this.client = undefined;
  }

  private refuse(method: { readonly path: string }, why: string): Error {
    this.options.observer?.forwarded(method.path, 'refused');
    return unavailable(why);
  }

  private forward<Req, Res>(address: string, method: grpc.MethodDefinition<Req, Res>, request: Req, deadline: number): Promise<Res> {
    if (this.client?.address !== address) {
      this.close();
      this.client = { address, client: new grpc.Client(address, this.options.credentials) };
    }
    const metadata = new grpc.Metadata();
    metadata.set(FORWARDED_BY, this.options.role.identity);
    const client = this.client.client;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline }, (err, res) =>
        err ? reject(err) : resolve(res as Res),
      );
    });
  }
}

/** Credentials for calls to the other replica: the server's own identity when it speaks TLS. */
export function peerCredentials(tls: { cert: Buffer; key: Buffer; clientCa?: Buffer | undefined } | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  // Replicas are addressed by pod IP, which certificates rarely name: trust the CA, not the name.
  return grpc.credentials.createSsl(tls.clientCa ?? null, tls.key, tls.cert, { checkServerIdentity: () => undefined });
}

function instanceOf(request: unknown): { instanceId?: string } {
  const instanceId = (request as { instanceId?: unknown }).instanceId;
  return typeof instanceId === 'string' ? { instanceId } : {};
}

/** Which replica answered, and which one is active: sent with every answer, for the CLI and for operators. */
/** The identity of the active replica as this one knows it (itself when leading). */
const activeOf = (role: ReplicaRole): string | undefined => (role.isLeading() ? role.identity : role.info().leader?.identity);

function headersFor(identity: string, active: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(REPLICA_HEADER, identity);
  if (active) md.set(ACTIVE_HEADER, active);
  return md;
}

export function replicaHeaders(role: ReplicaRole): grpc.Metadata {
  return headersFor(role.identity, activeOf(role));
}

/**
 * replicaHeaders for every answer, built again only when the active replica
 * changes: grpc-js reads the Metadata it is given and never changes it, and
 * a new one per call was a measurable part of a poll's CPU.
 */
export function cachedReplicaHeaders(role: ReplicaRole): () => grpc.Metadata {
  let active: string | undefined;
  let cached: grpc.Metadata | undefined;
  return () => {
    const now = activeOf(role);
    if (!cached || now !== active) {
      active = now;
      cached = headersFor(role.identity, now);
    }
    return cached;
  };
}

/** Deploy's in-band error when the replica it reached does not (or no longer) admit. */
export const inBandUnavailable = (res: { error?: string }): boolean => (res.error ?? '').startsWith('UNAVAILABLE: ');

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
import { unavailable } from '../../core/errors.js';
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
  async route<Req, Res>(method: grpc.MethodDefinition<Req, Res>, call: IncomingCall, request: Req, local: () => Promise<Res>, retryable: (res: Res) => boolean = () => false): Promise<Res> {
    const { role, log } = this.options;
    const forwarded = call.metadata.get(FORWARDED_BY).length > 0;
    const deadline = call.getDeadline();
    const callDeadline = deadline instanceof Date ? deadline.getTime() : deadline;
    const giveUpAt = Math.min(Date.now() + this.options.waitMs, callDeadline - 200);
    const instanceId = (request as { instanceId?: unknown }).instanceId;
    const what = { method: method.path, ...(typeof instanceId === 'string' ? { instanceId } : {}) };
    let tries = 0;
    for (;;) {
      // The core checks again at admission: leadership may lapse in between.
      if (role.isLeading() || forwarded) return local();
      const leader = role.info().leader;
      if (leader?.address && leader.identity !== role.identity) {
        tries++;
        try {
          const res = await this.forward(leader.address, method, request, callDeadline);
          if (!retryable(res) || Date.now() >= giveUpAt) {
            this.options.observer?.forwarded(method.path, tries > 1 ? 'retried' : 'ok');
            return res;
          }
          log.info({ ...what, to: leader.identity }, 'the replica forwarded to is no longer active; waiting');
        } catch (err) {
          const e = err as grpc.ServiceError;
          if (e.code !== grpc.status.UNAVAILABLE || Date.now() >= giveUpAt) throw this.refuse(method, `the active replica ${leader.identity} (${leader.address}) failed: ${e.details}`);
          log.info({ ...what, to: leader.identity, err: e.details }, 'active replica unreachable; waiting for the lease');
        }
      }
      if (Date.now() >= giveUpAt) throw this.refuse(method, 'no replica is active (leader election in progress); retry shortly');
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? 50));
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
        err ? reject(err) : resolve(res!),
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

/** Which replica answered, and which one is active: sent with every answer, for the CLI and for operators. */
export function replicaHeaders(role: ReplicaRole): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(REPLICA_HEADER, role.identity);
  const active = role.isLeading() ? role.identity : role.info().leader?.identity;
  if (active) md.set(ACTIVE_HEADER, active);
  return md;
}

/** Deploy's in-band error when the replica it reached does not (or no longer) admit. */
export const inBandUnavailable = (res: { error?: string }): boolean => (res.error ?? '').startsWith('UNAVAILABLE: ');

/**
 * Routing between replicas: both serve reads and session checks from the
 * shared session and their own synced books, and only the active replica
 * admits deploys. A Deploy that reaches the standby is forwarded to the
 * active replica's address (recorded in the leader Lease), or, while no
 * replica is active (the seconds of a fail-over), held for a bounded time
 * and then refused with UNAVAILABLE. Deploys are idempotent by instance id,
 * so a forward that failed on the way is simply tried again.
 */
import * as grpc from '@grpc/grpc-js';
import { unavailable } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { DeployRequest } from './generated/provider/DeployRequest.js';
import type { DeployResponse__Output } from './generated/provider/DeployResponse.js';
import type { ServiceClient } from './generated/provider/Service.js';
import { loadProto } from './proto.js';

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
  deployForwarded(result: 'ok' | 'retried' | 'refused'): void;
}

export interface ForwarderOptions {
  readonly role: ReplicaRole;
  readonly credentials: grpc.ChannelCredentials;
  /** How long a Deploy waits for an active replica before UNAVAILABLE. */
  readonly waitMs: number;
  readonly log: Logger;
  readonly observer?: ForwardObserver | undefined;
  readonly pollMs?: number;
}

const IN_BAND_UNAVAILABLE = 'UNAVAILABLE: ';

export class DeployForwarder {
  private client: { address: string; client: ServiceClient } | undefined;

  constructor(private readonly options: ForwarderOptions) {}

  /**
   * Runs the Deploy here when this replica is active, else on the active
   * one. `deadline` is the caller's; the wait for an active replica never
   * outlasts it.
   */
  async deploy(request: DeployRequest, metadata: grpc.Metadata, deadline: grpc.Deadline, local: () => Promise<DeployResponse__Output>): Promise<DeployResponse__Output> {
    const { role, log } = this.options;
    const forwarded = metadata.get(FORWARDED_BY).length > 0;
    const callDeadline = deadline instanceof Date ? deadline.getTime() : deadline;
    const giveUpAt = Math.min(Date.now() + this.options.waitMs, callDeadline - 200);
    let tries = 0;
    for (;;) {
      // The core checks again at admission: leadership may lapse in between.
      if (role.isLeading() || forwarded) return local();
      const leader = role.info().leader;
      if (leader?.address && leader.identity !== role.identity) {
        tries++;
        try {
          const res = await this.forward(leader.address, request, callDeadline);
          if (!res.error.startsWith(IN_BAND_UNAVAILABLE) || Date.now() >= giveUpAt) {
            this.options.observer?.deployForwarded(tries > 1 ? 'retried' : 'ok');
            return res;
          }
          log.info({ instanceId: request.instanceId, to: leader.identity, error: res.error }, 'forwarded deploy found no active replica there; waiting');
        } catch (err) {
          const e = err as grpc.ServiceError;
          if (e.code !== grpc.status.UNAVAILABLE || Date.now() >= giveUpAt) throw this.refuse(`the active replica ${leader.identity} (${leader.address}) failed: ${e.details}`);
          log.info({ instanceId: request.instanceId, to: leader.identity, err: e.details }, 'active replica unreachable; waiting for the lease');
        }
      }
      if (Date.now() >= giveUpAt) throw this.refuse('no replica is active (leader election in progress); retry shortly');
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? 50));
    }
  }

  close(): void {
    this.client?.client.close();
    this.client = undefined;
  }

  private refuse(why: string): Error {
    this.options.observer?.deployForwarded('refused');
    return unavailable(why);
  }

  private forward(address: string, request: DeployRequest, deadline: number): Promise<DeployResponse__Output> {
    if (this.client?.address !== address) {
      this.close();
      const { grpcObject } = loadProto();
      this.client = { address, client: new grpcObject.provider.Service(address, this.options.credentials) };
    }
    const client = this.client.client;
    const metadata = new grpc.Metadata();
    metadata.set(FORWARDED_BY, this.options.role.identity);
    return new Promise((resolve, reject) => {
      client.Deploy(request, metadata, { deadline }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }
}

/** Credentials for calls to the other replica: the server's own identity when it speaks TLS. */
export function peerCredentials(tls: { cert: Buffer; key: Buffer; clientCa?: Buffer | undefined } | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  // Replicas are addressed by pod IP, which certificates rarely name: trust the CA, not the name.
  return grpc.credentials.createSsl(tls.clientCa ?? null, tls.key, tls.cert, { checkServerIdentity: () => undefined });
}

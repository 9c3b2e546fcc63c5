import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { DomainError, unavailable } from '../../core/errors.js';
import { FORWARDED_BY, LeaderRouter, inBandUnavailable, type ReplicaRole } from './forward.js';
import { loadProto } from './proto.js';
import type { DeployRequest } from './generated/provider/DeployRequest.js';
import type { DeployResponse__Output } from './generated/provider/DeployResponse.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const { grpcObject } = loadProto();
const deploy = grpcObject.provider.Service.service.Deploy;

/** A replica whose Deploy answers with `answer`, recording the forwarded-by header it saw. */
async function replica(answer: () => DeployResponse__Output): Promise<{ address: string; seen: string[]; server: grpc.Server }> {
  const server = new grpc.Server();
  const seen: string[] = [];
  server.addService(grpcObject.provider.Service.service, {
    Deploy: (call: grpc.ServerUnaryCall<DeployRequest, DeployResponse__Output>, cb: grpc.sendUnaryData<DeployResponse__Output>) => {
      seen.push(String(call.metadata.get(FORWARDED_BY)[0] ?? ''));
      cb(null, answer());
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, seen, server };
}

class Role implements ReplicaRole {
  readonly identity = 'me';
  leading = false;
  leader: { identity: string; address: string | undefined } | undefined;
  isLeading = (): boolean => this.leading;
  info = (): { leader: { identity: string; address: string | undefined } | undefined } => ({ leader: this.leader });
}

const incoming = (deadlineMs = 5000, forwardedBy?: string): { metadata: grpc.Metadata; getDeadline: () => number } => {
  const metadata = new grpc.Metadata();
  if (forwardedBy) metadata.set(FORWARDED_BY, forwardedBy);
  const deadline = Date.now() + deadlineMs;
  return { metadata, getDeadline: () => deadline };
};

const ok = (name: string): DeployResponse__Output => ({
  error: '',
  workloadName: name,
  workloadKind: 'POD',
  created: true,
  endpoint: null,
  networkPolicy: '',
  volumeClaims: [],
  replicas: 0,
});
const request = { providerId: 'cp', instanceId: 'i-1' } as DeployRequest;

describe('LeaderRouter', () => {
  const servers: grpc.Server[] = [];
  const routers: LeaderRouter[] = [];
  const router = (role: Role, waitMs = 1000): LeaderRouter => {
    const r = new LeaderRouter({ role, credentials: grpc.credentials.createInsecure(), waitMs, log: quiet, pollMs: 10 });
    routers.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of routers.splice(0)) r.close();
    for (const s of servers.splice(0)) s.forceShutdown();
  });

  it('runs the call here while this replica is active', async () => {
    const role = new Role();
    role.leading = true;
    expect(await router(role).route(deploy, incoming(), request, async () => ok('local'))).toEqual(ok('local'));
  });

  it('sends the call to the active replica, saying who forwarded it', async () => {
    const leader = await replica(() => ok('remote'));
    servers.push(leader.server);
    const role = new Role();
    role.leader = { identity: 'other', address: leader.address };
    expect(await router(role).route(deploy, incoming(), request, async () => ok('local'))).toMatchObject({ workloadName: 'remote' });
    expect(leader.seen).toEqual(['me']);
  });

  it('never forwards a forwarded call again: it answers itself (the core refuses a standby)', async () => {
    const role = new Role();
    role.leader = { identity: 'other', address: '127.0.0.1:1' };
    expect(await router(role).route(deploy, incoming(5000, 'other'), request, async () => ok('local'))).toMatchObject({ workloadName: 'local' });
  });

  it('waits for an active replica, then refuses with UNAVAILABLE within its bound', async () => {
    const role = new Role();
    const started = Date.now();
    const failure = await router(role, 200)
      .route(deploy, incoming(), request, async () => ok('local'))
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(DomainError);
    expect((failure as DomainError).message).toBe('no replica is active (leader election in progress); retry shortly');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('rides out a fail-over: the old leader unreachable, then this replica takes over', async () => {
    const role = new Role();
    role.leader = { identity: 'gone', address: '127.0.0.1:1' }; // nothing listens there
    setTimeout(() => {
      role.leader = undefined;
      role.leading = true;
    }, 100);
    expect(await router(role).route(deploy, incoming(), request, async () => ok('local'))).toMatchObject({ workloadName: 'local' });
  });

  it('tries again when the replica reached answers that it no longer admits', async () => {
    let answers = 0;
    const leader = await replica(() =>
      answers++ === 0
        ? {
            error: 'UNAVAILABLE: this replica is the standby',
            workloadName: '',
            workloadKind: 'POD',
            created: false,
            endpoint: null,
            networkPolicy: '',
            volumeClaims: [],
            replicas: 0,
          }
        : ok('remote'),
    );
    servers.push(leader.server);
    const role = new Role();
    role.leader = { identity: 'other', address: leader.address };
    expect(await router(role).route(deploy, incoming(), request, async () => ok('local'), inBandUnavailable)).toMatchObject({ workloadName: 'remote' });
    expect(answers).toBe(2);
  });

  it('sends a call to the successor when this replica stopped being active while running it', async () => {
    const successor = await replica(() => ok('successor'));
    servers.push(successor.server);
    const role = new Role();
    role.leading = true;
    const local = async (): Promise<DeployResponse__Output> => {
      // The hand-over: leadership ends, the create in flight is aborted, the successor is known.
      role.leading = false;
      role.leader = { identity: 'other', address: successor.address };
      throw unavailable('this replica stopped being the active one while creating instance "i-1"; retry the Deploy');
    };
    expect(await router(role).route(deploy, incoming(), request, local)).toMatchObject({ workloadName: 'successor' });
    expect(successor.seen).toEqual(['me']);
  });

  it('keeps a failure of its own while it is still the active replica, and any failure that is not UNAVAILABLE', async () => {
    const role = new Role();
    role.leading = true;
    const down = router(role).route(deploy, incoming(), request, async () => {
      throw unavailable('cannot reach the Kubernetes API server');
    });
    await expect(down).rejects.toThrow('cannot reach the Kubernetes API server');
    const invalid = router(role).route(deploy, incoming(), request, async () => {
      role.leading = false;
      throw new DomainError('INVALID_ARGUMENT', 'bad');
    });
    await expect(invalid).rejects.toThrow('bad');
  });
});

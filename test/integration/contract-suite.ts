/**
 * The provider contract as the existing control plane uses it: a client built
 * from the original protos (test/fixtures/contract, none of our extensions)
 * sees exactly the session rules and answers it relies on, over a real
 * socket. Run against a daemon in the test process (contract.test.ts) and
 * against the daemon deployed in the cluster from its image
 * (in-cluster.test.ts).
 *
 * The target starts fresh: capacity 4000m cpu, 4Gi, 2 GPUs, tags cpu,
 * memory and camera, no session, no instances.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { statusOf as code, type LogLine } from '../helpers/daemon.js';
import { LABEL_INSTANCE_ID, LABEL_MANAGED, LABEL_PROVIDER_ID } from '../../src/shared/labels.js';

export interface ContractTarget {
  /** HOST:PORT of the daemon's gRPC server. */
  readonly address: string;
  /** Where its instances run. */
  readonly namespace: string;
  /** Its JSON log lines so far. */
  logs(): Promise<readonly LogLine[]>;
  stop(): Promise<void>;
}

/** The contract's capacity, for targets to configure. */
export const CONTRACT_RESOURCE = { cpu: 4000, memory: '4Gi', gpu: 2 } as const;
export const CONTRACT_TAGS = ['cpu', 'memory', 'camera'] as const;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'contract');

type Info = { cpu: string; memory: string; gpu: string; tags: string[] };
type Capacity = { total: Info; used: Info; available: Info };
type Callable = (req: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/** A client as the existing Go control plane would have it: original messages, snake_case fields. */
export function originalClient(address: string): grpc.Client & Record<string, Callable> {
  const def = protoLoader.loadSync('provider/provider.proto', { includeDirs: [fixtures], keepCase: true, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  return new pkg.provider.Service(address, grpc.credentials.createInsecure());
}

export function rpc(client: Record<string, Callable>, method: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => client[method]!.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));
}

function expectBalanced(c: Capacity): void {
  for (const k of ['cpu', 'memory', 'gpu'] as const) {
    const [t, u, a] = [BigInt(c.total[k]), BigInt(c.used[k]), BigInt(c.available[k])];
    expect(t).toBe(u + a);
    expect(u >= 0n && a >= 0n).toBe(true);
  }
}

const GI = 2 ** 30;

export function describeContract(title: string, start: () => Promise<ContractTarget>, { skip = false } = {}): void {
  describe.skipIf(skip)(title, () => {
    let target: ContractTarget;
    let client: grpc.Client & Record<string, Callable>;

    beforeAll(async () => {
      target = await start();
      client = originalClient(target.address);
    }, 900_000);
    afterAll(async () => {
      client?.close();
      await target?.stop();
    }, 180_000);

    it('answers capacity before any Connect, complete and balanced', async () => {
      const { capacity } = await rpc(client, 'GetCapacity', { provider_id: '' });
      expect(capacity.total).toEqual({ cpu: '4000', memory: String(4 * GI), gpu: '2', tags: [] });
      expect(capacity.used).toEqual({ cpu: '0', memory: '0', gpu: '0', tags: [] });
      expectBalanced(capacity);
      expect((await rpc(client, 'GetAvailable', { provider_id: 'anyone' })).available).toMatchObject({ cpu: '4000', gpu: '2' });
    });

    it('needs a session for Deploy, HealthCheck, Disconnect and GetRealTimeUsage', async () => {
      const deploy = await rpc(client, 'Deploy', { instance_id: 'x', image: 'img', resource_request: { cpu: 100, memory: 1000 }, provider_id: 'cp-1' });
      expect(deploy.error).toBe('FAILED_PRECONDITION: no control plane is connected: call Connect first');
      for (const m of ['HealthCheck', 'Disconnect', 'GetRealTimeUsage']) {
        expect(await code(rpc(client, m, { provider_id: 'cp-1' }))).toBe('FAILED_PRECONDITION: no control plane is connected: call Connect first');
      }
    });

    it('refuses an empty id in-band and answers provider type kubernetes', async () => {
      const res = await rpc(client, 'Connect', { provider_id: '' });
      expect(res).toEqual({ success: false, error: 'INVALID_ARGUMENT: provider_id is required', provider_type: { name: 'kubernetes' } });
    });

    it('connects, reconnects with the same id, and refuses another id naming the connected one', async () => {
      expect(await rpc(client, 'Connect', { provider_id: 'cp-1' })).toEqual({ success: true, error: '', provider_type: { name: 'kubernetes' } });
      expect((await rpc(client, 'Connect', { provider_id: 'cp-1' })).success).toBe(true);
      const other = await rpc(client, 'Connect', { provider_id: 'cp-2' });
      expect(other.success).toBe(false);
      expect(other.error).toBe('FAILED_PRECONDITION: provider is already connected to "cp-1"');
    });

    it('guards every RPC by provider id once connected', async () => {
      for (const m of ['GetCapacity', 'GetAvailable', 'HealthCheck', 'GetRealTimeUsage', 'Disconnect']) {
        expect(await code(rpc(client, m, { provider_id: 'cp-2' }))).toBe('PERMISSION_DENIED: provider_id "cp-2" is not the connected provider');
      }
      expect(await code(rpc(client, 'GetCapacity', { provider_id: '' }))).toBe('PERMISSION_DENIED: provider_id is required');
      const deploy = await rpc(client, 'Deploy', { instance_id: 'x', image: 'img', resource_request: { cpu: 100, memory: 1000 }, provider_id: 'cp-2' });
      expect(deploy.error).toBe('PERMISSION_DENIED: provider_id "cp-2" is not the connected provider');
    });

    it('HealthCheck returns the full capacity and the configured tags', async () => {
      const res = await rpc(client, 'HealthCheck', { provider_id: 'cp-1' });
      expect(res.resource_tags).toEqual({ cpu: true, gpu: false, memory: true, camera: true });
      expect(res.capacity.total).toMatchObject({ cpu: '4000', memory: String(4 * GI), gpu: '2' });
      expectBalanced(res.capacity);
    });

    it('deploys a labelled Pod with the call-home env, and GetCapacity shows it at once', async () => {
      const env = { COMPONENT_ID: 'comp-1', ZMQ_ADDR: 'tcp://10.0.0.1:5555', STORE_ADDR: 'http://store:8080', LOGGER_ADDR: 'secret-logger:9000' };
      const res = await rpc(client, 'Deploy', {
        instance_id: 'comp-1',
        image: 'iarnet/component:python_3.11-latest',
        resource_request: { cpu: 1500, memory: GI, gpu: 1 },
        env_vars: env,
        provider_id: 'cp-1',
      });
      expect(res).toEqual({ error: '' });
      const { capacity } = await rpc(client, 'GetCapacity', { provider_id: 'cp-1' });
      expect(capacity.used).toMatchObject({ cpu: '1500', memory: String(GI), gpu: '1' });
      expect(capacity.available).toMatchObject({ cpu: '2500', memory: String(3 * GI), gpu: '1' });

      const core = makeKubeConfig().makeApiClient(CoreV1Api);
      const pods = await core.listNamespacedPod({
        namespace: target.namespace,
        labelSelector: `${LABEL_MANAGED}=true,${LABEL_PROVIDER_ID}=cp-1,${LABEL_INSTANCE_ID}=comp-1`,
      });
      expect(pods.items).toHaveLength(1);
      const c = pods.items[0]!.spec!.containers[0]!;
      expect(c.env?.map((e) => e.name).sort()).toEqual(Object.keys(env).sort());
      expect(c.resources?.requests).toEqual({ cpu: '1500m', memory: String(GI), 'nvidia.com/gpu': '1' });
      // Env values may be secrets: none may appear in any log line.
      const logText = JSON.stringify(await target.logs());
      for (const [key, value] of Object.entries(env)) if (key !== 'COMPONENT_ID') expect(logText).not.toContain(value);
      await waitFor(
        'the pod to run on a KWOK node',
        async () => (await core.readNamespacedPod({ name: 'comp-1', namespace: target.namespace })).status?.phase === 'Running',
      );
    });

    it('refuses what does not fit with RESOURCE_EXHAUSTED and creates nothing', async () => {
      const res = await rpc(client, 'Deploy', {
        instance_id: 'too-big',
        image: 'img',
        resource_request: { cpu: 3000, memory: GI, gpu: 0 },
        provider_id: 'cp-1',
      });
      expect(res.error).toBe('RESOURCE_EXHAUSTED: needs 3 cpu, 2500m cpu available');
      const core = makeKubeConfig().makeApiClient(CoreV1Api);
      expect((await core.listNamespacedPod({ namespace: target.namespace, labelSelector: `${LABEL_INSTANCE_ID}=too-big` })).items).toEqual([]);
    });

    it('refuses hostile int64 values instead of wrapping them', async () => {
      const res = await rpc(client, 'Deploy', {
        instance_id: 'huge',
        image: 'img',
        resource_request: { cpu: 100, memory: '9223372036854775807' },
        provider_id: 'cp-1',
      });
      expect(res.error).toBe('INVALID_ARGUMENT: resource_request.memory 9223372036854775807 is out of range (at most 9007199254740991)');
      const neg = await rpc(client, 'Deploy', { instance_id: 'neg', image: 'img', resource_request: { cpu: -1, memory: 1 }, provider_id: 'cp-1' });
      expect(neg.error).toBe('INVALID_ARGUMENT: resource_request.cpu must be a positive number of millicores (got -1)');
    });

    it('reports real-time usage with every field present', async () => {
      const { usage } = await rpc(client, 'GetRealTimeUsage', { provider_id: 'cp-1' });
      expect(Object.keys(usage).sort()).toEqual(['cpu', 'gpu', 'memory', 'tags']);
      expect(usage.gpu).toBe('1');
    });

    it('logs every RPC once with method, provider id, duration and outcome', async () => {
      // The daemon writes its log asynchronously (a line may follow its call by up to 250 ms): wait for the
      // last Deploy's line before reading.
      const rpcLines = async () => (await target.logs()).filter((l) => l.msg === 'rpc');
      await waitFor('the Deploy lines to be written', async () => (await rpcLines()).filter((l) => l.method === 'Deploy').length >= 6, {
        timeoutMs: 5000,
        intervalMs: 100,
      });
      const rpcs = await rpcLines();
      // Polls that succeed get a line per call only at debug (at info they are summed up in a per-minute
      // `rpc summary`); every other call, and every failed poll, gets its line at any level.
      const polls = new Set(['HealthCheck', 'GetCapacity', 'GetAvailable', 'GetRealTimeUsage']);
      expect(rpcs.filter((l) => l.method === 'Connect')).toHaveLength(4);
      expect(rpcs.filter((l) => !polls.has(String(l.method)) || l.code !== 'OK').length).toBeGreaterThanOrEqual(10);
      for (const l of rpcs) {
        expect(l).toMatchObject({ method: expect.any(String), providerId: expect.any(String), durationMs: expect.any(Number), code: expect.any(String) });
      }
      expect(rpcs.filter((l) => l.method === 'Deploy').map((l) => l.code)).toEqual([
        'FAILED_PRECONDITION',
        'PERMISSION_DENIED',
        'OK',
        'RESOURCE_EXHAUSTED',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
      ]);
    });

    it('Disconnect lets another control plane in', async () => {
      await rpc(client, 'Disconnect', { provider_id: 'cp-1' });
      expect((await rpc(client, 'Connect', { provider_id: 'cp-2' })).success).toBe(true);
      await rpc(client, 'Disconnect', { provider_id: 'cp-2' });
    });
  });
}

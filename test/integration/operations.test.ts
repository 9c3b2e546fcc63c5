/**
 * Issue 6: what operators point their tools at. grpc.health.v1 follows the
 * daemon's view of the API server (cut here with a TCP proxy in front of the
 * real one, so no other test loses its API server), reflection is complete
 * enough for a client with no .proto files to call the service, and
 * /metrics reports what happened.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/net.js';

type Check = (req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;

function healthCheck(port: number): (service?: string) => Promise<string> {
  const def = protoLoader.loadSync('health/v1/health.proto', { includeDirs: [dirname(dirname(dirname(healthProtoPath)))], keepCase: true, enums: String });
  const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { Check: Check };
  return (service = '') =>
    new Promise((resolve, reject) => client.Check({ service }, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!.status))));
}

/** A TCP proxy to the API server that can be cut (every connection reset, new ones refused) and restored on the same port. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(
    private readonly host: string,
    private readonly upstreamPort: number,
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket();
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      upstream.connect(this.upstreamPort, this.host);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

const GI = 2 ** 30;

describe('health, reflection and metrics', () => {
  let ns: TestNamespace;
  const tmp = mkdtempSync(join(tmpdir(), 'k8s-provider-ops-'));
  beforeAll(async () => {
    ns = await createTestNamespace('ops');
  });
  afterAll(async () => {
    await ns?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is SERVING only while the API server is reachable and the informers are synced', async () => {
    const admin = makeKubeConfig();
    const upstream = new URL(admin.getCurrentCluster()!.server);
    const proxy = new CuttableProxy(upstream.hostname, Number(upstream.port));
    await proxy.open();
    const kc = makeKubeConfig();
    const cluster = kc.getCurrentCluster()!;
    kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${proxy.port}` } : c));
    const kubeconfig = join(tmp, 'proxied.kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig());

    const d = await startTestDaemon(ns.name, { kubernetes: { kubeconfig, resync_seconds: 3600 } });
    try {
      const check = healthCheck(d.daemon.port);
      await waitFor('SERVING after start', async () => (await check()) === 'SERVING', { timeoutMs: 5000 });
      expect(await check('provider.Service')).toBe('SERVING');
      expect(await check('liveness')).toBe('SERVING');

      await proxy.cut();
      await waitFor('NOT_SERVING once the API server is unreachable', async () => (await check()) === 'NOT_SERVING', { timeoutMs: 30_000 });
      expect(await check('provider.Service')).toBe('NOT_SERVING');
      // Alive all the same: a restart would not bring the API server back.
      expect(await check('liveness')).toBe('SERVING');
      expect(d.daemon.ready()).toBe(false);

      await proxy.open();
      await waitFor('SERVING again once the watches resume', async () => (await check()) === 'SERVING', { timeoutMs: 60_000 });
      expect(d.logs.some((l) => l.msg === 'health status changed' && l.to === 'NOT_SERVING')).toBe(true);
    } finally {
      await d.stop();
      await proxy.cut();
    }
  });

  describe('on a daemon with the metrics endpoint on', () => {
    let d: TestDaemon;
    let metricsPort: number;
    let stopped = false;
    beforeAll(async () => {
      metricsPort = await freePort();
      d = await startTestDaemon(ns.name, {
        resource: { cpu: 1000, memory: '1Gi', gpu: 0 },
        prometheus: { host: '127.0.0.1', port: metricsPort },
        usage: { interval_seconds: 1 },
      });
    });
    afterAll(async () => {
      if (!stopped) await d?.stop();
    });

    it('reflection describes every service well enough to call it with no .proto at hand', async () => {
      const reflectionProto = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
        includeDirs: [join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto')],
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      });
      const pkg = grpc.loadPackageDefinition(reflectionProto) as unknown as {
        grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
      };
      const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${d.daemon.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
        ServerReflectionInfo(): grpc.ClientDuplexStream<object, Record<string, any>>;
      };
      const ask = async (request: object): Promise<Record<string, any>> => {
        const stream = client.ServerReflectionInfo();
        const answer = once(stream, 'data');
        stream.write(request);
        const [res] = (await answer) as [Record<string, any>];
        stream.end();
        return res;
      };
      try {
        const listed = await ask({ list_services: '*' });
        expect(listed.list_services_response.service.map((s: { name: string }) => s.name).sort()).toEqual([
          'grpc.health.v1.Health',
          'k8sprovider.v1.Instances',
          'provider.Service',
        ]);

        // The instance service with its server streams, and the file it shares with provider.Service.
        const inst = await ask({ file_containing_symbol: 'k8sprovider.v1.Instances' });
        const instFiles: FileDescriptorProto[] = inst.file_descriptor_response.file_descriptor_proto.map((b: Buffer) =>
          fromBinary(FileDescriptorProtoSchema, b),
        );
        expect(instFiles.map((f) => f.name).sort()).toEqual(['k8sprovider/v1/instances.proto', 'resource/resource.proto']);
        const methods = instFiles.find((f) => f.name === 'k8sprovider/v1/instances.proto')!.service[0]!.method;
        expect(methods.map((m) => `${m.name}${m.serverStreaming ? ' (stream)' : ''}`)).toEqual([
          'GetInstance',
          'ListInstances',
          'WatchInstances (stream)',
          'GetLogs (stream)',
          'Undeploy',
          'SendHttpRequest',
          'ScaleInstance',
        ]);

        // What grpcurl does: the file holding the symbol, plus every file it imports.
        const found = await ask({ file_containing_symbol: 'provider.Service' });
        const files: FileDescriptorProto[] = found.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => fromBinary(FileDescriptorProtoSchema, b));
        const names = files.map((f) => f.name);
        for (const f of files) for (const dep of f.dependency) expect(names, `${f.name} imports ${dep}`).toContain(dep);
        expect(names.sort()).toEqual(['provider/provider.proto', 'resource/resource.proto']);

        // Link them with a second protobuf implementation and call GetCapacity with the reflected schema only.
        // A FileDescriptorSet lists imports before their importers.
        const ordered = [...files].sort((a, b) => Number(a.dependency.includes(b.name)) - Number(b.dependency.includes(a.name)));
        const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
        const service = registry.getService('provider.Service')!;
        const method = service.methods.find((m) => m.name === 'GetCapacity')!;
        const input = method.input as DescMessage;
        const output = method.output as DescMessage;
        expect(input.fields.map((f) => f.name)).toEqual(['provider_id']);
        const raw = new grpc.Client(`127.0.0.1:${d.daemon.port}`, grpc.credentials.createInsecure());
        try {
          const answer = await new Promise<Record<string, any>>((resolve, reject) =>
            raw.makeUnaryRequest(
              `/provider.Service/${method.name}`,
              (m: Record<string, unknown>) => Buffer.from(toBinary(input, create(input, m))),
              (b: Buffer) => fromBinary(output, b) as unknown as Record<string, any>,
              { providerId: '' },
              (err, res) => (err ? reject(err) : resolve(res!)),
            ),
          );
          expect(answer.capacity.total).toMatchObject({ cpu: 1000n, memory: BigInt(GI), gpu: 0n });
        } finally {
          raw.close();
        }
      } finally {
        client.close();
      }
    });

    it('/metrics counts RPCs, deploys and API requests and shows the books, informers and usage poll', async () => {
      await call(d.client, 'Connect', { providerId: 'ops' });
      const deploy = (instanceId: string, cpu: number): Promise<{ error: string }> =>
        call(d.client, 'Deploy', { providerId: 'ops', instanceId, image: 'busybox', resourceRequest: { cpu, memory: 64 * 2 ** 20, gpu: 0 } });
      expect((await deploy('m1', 250)).error).toBe('');
      expect((await deploy('m1', 250)).error).toBe('');
      expect((await deploy('too-big', 5000)).error).toMatch(/^RESOURCE_EXHAUSTED: /);
      await call(d.client, 'GetCapacity', { providerId: 'ops' });
      await waitFor('the pod to be counted', () => d.daemon.provider.currentCapacity().used.cpu === 250);
      await waitFor('a usage poll', () => d.daemon.usageStats().pollsTotal > 0);

      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const lines = (await res.text()).split('\n');
      const value = (series: string): number | undefined => {
        const line = lines.find((l) => l.startsWith(`${series} `));
        return line === undefined ? undefined : Number(line.slice(series.length + 1));
      };
      const rpc = (method: string, code: string): string =>
        `grpc_server_handled_total{grpc_service="provider.Service",grpc_method="${method}",grpc_code="${code}"}`;
      expect(value(rpc('Connect', 'OK'))).toBe(1);
      expect(value(rpc('Deploy', 'OK'))).toBe(2);
      expect(value(rpc('Deploy', 'RESOURCE_EXHAUSTED'))).toBe(1);
      expect(value(rpc('GetCapacity', 'OK'))).toBeGreaterThanOrEqual(1); // the reflection test calls it too
      expect(value(`grpc_server_handling_seconds_count{grpc_service="provider.Service",grpc_method="Deploy",grpc_code="OK"}`)).toBe(2);
      expect(value('k8s_provider_deploys_total{outcome="created"}')).toBe(1);
      expect(value('k8s_provider_deploys_total{outcome="existing"}')).toBe(1);
      expect(value('k8s_provider_deploys_total{outcome="rejected"}')).toBe(1);
      expect(value('k8s_provider_capacity{resource="cpu",unit="core"}')).toBe(1);
      expect(value('k8s_provider_capacity_used{resource="cpu",unit="core"}')).toBe(0.25);
      expect(value('k8s_provider_capacity_available{resource="cpu",unit="core"}')).toBe(0.75);
      expect(value('k8s_provider_capacity_available{resource="memory",unit="byte"}')).toBe(GI - 64 * 2 ** 20);
      expect(value('k8s_provider_session_health_check_age_seconds{provider_id="ops"}')).toBeLessThan(60);
      expect(value('k8s_provider_ready')).toBe(1);
      expect(value('k8s_provider_kube_api_requests_total{operation="createNamespacedPod"}')).toBe(1);
      expect(value('k8s_provider_kube_api_requests_total{operation="listNamespacedPod"}')).toBeGreaterThanOrEqual(1);
      expect(value('k8s_provider_kube_api_requests_total{operation="createSelfSubjectAccessReview"}')).toBeGreaterThanOrEqual(10);
      expect(value('k8s_provider_informer_restarts_total{informer="pods"}')).toBe(0);
      expect(value('k8s_provider_informer_resyncs_total{informer="jobs"}')).toBe(0);
      expect(value('k8s_provider_informer_last_event_age_seconds{informer="pods"}')).toBeLessThan(60);
      // The created pod's watch events (added, then the KWOK status updates) were applied and timed.
      expect(value('k8s_provider_watch_event_apply_seconds_count{informer="pods"}')).toBeGreaterThanOrEqual(1);
      expect(value('k8s_provider_watch_event_apply_seconds_bucket{le="+Inf",informer="pods"}')).toBe(
        value('k8s_provider_watch_event_apply_seconds_count{informer="pods"}'),
      );
      expect(value('k8s_provider_usage_polls_total')).toBeGreaterThanOrEqual(1);
      expect(value('k8s_provider_usage_last_poll_age_seconds')).toBeGreaterThanOrEqual(0);
      expect(value('k8s_provider_usage_stale')).toBeDefined();
      expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

      expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    });

    it('closes the metrics port with the daemon', async () => {
      stopped = true;
      await d.stop();
      await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
    });
  });
});

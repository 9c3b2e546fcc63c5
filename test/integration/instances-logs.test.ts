/**
 * Issue 11: GetLogs with real output, on a node that runs containers. KWOK
 * nodes have no kubelet (instances.test.ts tests that error path), so this
 * runs only when the test cluster has a real node: any Ready node without
 * KWOK's annotation (the opt-in node of `CLUSTER_REAL_NODE=1 npm run
 * cluster:up`; with CLUSTER_REAL_NODE=1 set here too, a missing node fails
 * the test instead of skipping it). Its image (CLUSTER_REAL_NODE_IMAGE,
 * default busybox) must be available on that node and have sh.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { instancesClient } from '../helpers/instances.js';
import { scrapeApiserver, total } from '../helpers/apiserver-metrics.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { GetLogsResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetLogsResponse.js';

const admin = makeKubeConfig();
const PID = 'cp-logs';

async function findRealNode(): Promise<{ node: string } | { skip: string }> {
  const nodes = (await admin.makeApiClient(CoreV1Api).listNode()).items;
  const ready = (n: (typeof nodes)[number]): boolean => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const real = nodes.find((n) => ready(n) && n.metadata?.annotations?.['kwok.x-k8s.io/node'] !== 'fake');
  if (real) return { node: real.metadata!.name! };
  const skip = 'the test cluster has only KWOK nodes (no kubelet to serve logs); start a real one with CLUSTER_REAL_NODE=1 npm run cluster:up';
  if (process.env.CLUSTER_REAL_NODE === '1') throw new Error(`CLUSTER_REAL_NODE=1 but ${skip}`);
  return { skip };
}

const found = await findRealNode();
if ('skip' in found) console.info(`[instances-logs] skipped: ${found.skip}`);

/** Long-running log requests the API server is serving right now (cluster-wide gauge). */
const openLogRequests = async (): Promise<number> =>
  total(await scrapeApiserver(admin), 'apiserver_longrunning_requests', (l) => l.resource === 'pods' && l.subresource === 'log');

describe.skipIf('skip' in found)('GetLogs on a real node', () => {
  const node = 'node' in found ? found.node : '';
  let ns: TestNamespace;
  let d: TestDaemon;
  let ic: InstancesClient;
  const deploy = (instanceId: string, script: string) =>
    call(d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: process.env.CLUSTER_REAL_NODE_IMAGE ?? 'busybox',
      resourceRequest: { cpu: 50, memory: 2 ** 25, gpu: 0 },
      workload: {
        command: ['sh', '-c'],
        args: [script],
        nodeSelector: { 'kubernetes.io/hostname': node },
        // Whatever keeps other pods off that node (the test cluster's real node is tainted).
        tolerations: [{ key: '', operator: 'Exists', value: '', effect: 'NoSchedule' }],
      },
    });
  const read = (request: object, onLine?: (line: string, stream: grpc.ClientReadableStream<GetLogsResponse__Output>) => void) =>
    new Promise<{ lines: string[]; end: string }>((resolve) => {
      const lines: string[] = [];
      const stream = ic.GetLogs({ providerId: PID, ...request });
      stream.on('data', (m: GetLogsResponse__Output) =>
        m.lines.forEach((l) => {
          lines.push(l);
          onLine?.(l, stream);
        }),
      );
      stream.on('error', (err: grpc.ServiceError) => resolve({ lines, end: `error ${err.code}: ${err.details}` }));
      stream.on('end', () => resolve({ lines, end: 'end' }));
    });

  beforeAll(async () => {
    ns = await createTestNamespace('instances-logs');
    d = await startTestDaemon(ns.name);
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PID });
  });
  afterAll(async () => {
    ic?.close();
    await d?.stop();
    await ns?.cleanup();
  });

  it('reads the lines, the last N, and follows until the container ends', async () => {
    await deploy('talker', 'for i in 1 2 3 4 5; do echo line-$i; done; sleep 3; echo last; exit 0');
    await waitFor('talker to start', () => d.daemon.tracker.get('talker')?.startedAt !== undefined, { timeoutMs: 120_000 });
    const followed = await read({ instanceId: 'talker', follow: true });
    expect(followed).toEqual({ lines: ['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'last'], end: 'end' });
    expect(await read({ instanceId: 'talker', tailLines: 2 })).toEqual({ lines: ['line-5', 'last'], end: 'end' });
  });

  it('ends the request underneath when the client cancels a follow', async () => {
    await deploy('chatty', 'while true; do echo tick; sleep 0.2; done');
    await waitFor('chatty to start', () => d.daemon.tracker.get('chatty')?.phase === 'Running', { timeoutMs: 120_000 });
    const idle = await openLogRequests();
    let during = -1;
    const result = await read({ instanceId: 'chatty', follow: true }, (_line, stream) => {
      if (during < 0) {
        during = 0;
        void openLogRequests().then((n) => {
          during = n;
          stream.cancel();
        });
      }
    });
    expect(result.end).toMatch(/^error 1:/); // CANCELLED
    expect(result.lines.length).toBeGreaterThan(0);
    expect(during).toBe(idle + 1);
    await waitFor('the log request to be closed on the API server', async () => (await openLogRequests()) === idle, { timeoutMs: 10_000 });
  });
});

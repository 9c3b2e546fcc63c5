/**
 * Issue 11: GetLogs with real output, on a node that runs containers. KWOK
 * nodes have no kubelet (instances.test.ts tests that error path), so this
 * runs only on the test cluster's real node (test/helpers/real-node.ts:
 * skipped with the reason printed when it is off, failed when
 * CLUSTER_REAL_NODE=1 says it must be there), with the locally built
 * workload image.
 */
import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { call } from '../helpers/daemon.js';
import { connectedInstancesDaemon } from '../helpers/instances.js';
import { scrapeApiserver, total } from '../helpers/apiserver-metrics.js';
import { realNode, REAL_NODE_SELECTOR, REAL_NODE_TOLERATION } from '../helpers/real-node.js';
import type { GetLogsResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetLogsResponse.js';

const admin = makeKubeConfig();
const PID = 'cp-logs';
const node = await realNode('instances-logs.test');

/** Long-running log requests the API server is serving right now (cluster-wide gauge). */
const openLogRequests = async (): Promise<number> =>
  total(await scrapeApiserver(admin), 'apiserver_longrunning_requests', (l) => l.resource === 'pods' && l.subresource === 'log');

describe.skipIf(!node.available)('GetLogs on a real node', () => {
  const image = node.available ? node.workloadImage : '';
  const t = connectedInstancesDaemon('instances-logs', PID);
  const deploy = (instanceId: string, script: string) =>
    call(t.d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image,
      resourceRequest: { cpu: 50, memory: 2 ** 25, gpu: 0 },
      workload: {
        command: ['sh', '-c'],
        args: [script],
        nodeSelector: REAL_NODE_SELECTOR,
        tolerations: [REAL_NODE_TOLERATION],
      },
    });
  const read = (request: object, onLine?: (line: string, stream: grpc.ClientReadableStream<GetLogsResponse__Output>) => void) =>
    new Promise<{ lines: string[]; end: string }>((resolve) => {
      const lines: string[] = [];
      const stream = t.ic.GetLogs({ providerId: PID, ...request });
      stream.on('data', (m: GetLogsResponse__Output) =>
        m.lines.forEach((l) => {
          lines.push(l);
          onLine?.(l, stream);
        }),
      );
      stream.on('error', (err: grpc.ServiceError) => resolve({ lines, end: `error ${err.code}: ${err.details}` }));
      stream.on('end', () => resolve({ lines, end: 'end' }));
    });

  it('reads the lines, the last N, and follows until the container ends', async () => {
    await deploy('talker', 'for i in 1 2 3 4 5; do echo line-$i; done; sleep 3; echo last; exit 0');
    // The pod's start time comes before its container runs: wait for the container itself.
    await waitFor('talker to run', () => ['Running', 'Succeeded'].includes(t.d.daemon.tracker.get('talker')?.phase ?? ''), { timeoutMs: 90_000 });
    const followed = await read({ instanceId: 'talker', follow: true });
    expect(followed).toEqual({ lines: ['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'last'], end: 'end' });
    expect(await read({ instanceId: 'talker', tailLines: 2 })).toEqual({ lines: ['line-5', 'last'], end: 'end' });
  });

  it('ends the request underneath when the client cancels a follow', async () => {
    await deploy('chatty', 'while true; do echo tick; sleep 0.2; done');
    await waitFor('chatty to start', () => t.d.daemon.tracker.get('chatty')?.phase === 'Running', { timeoutMs: 90_000 });
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

/**
 * Issue 11: GetInstance, ListInstances and WatchInstances are answered from
 * the informer cache, and fifty watchers share the one pod and job watch.
 * Counted on the API server, as in usage-cost.test.ts: every request of the
 * daemon's own ServiceAccount lands in its APF FlowSchema.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { createTestIdentity, type TestIdentity } from '../helpers/identity.js';
import { scrapeApiserver, total, type Sample } from '../helpers/apiserver-metrics.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { WatchRecorder, icall, instancesClient } from '../helpers/instances.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { ListInstancesResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/ListInstancesResponse.js';

const admin = makeKubeConfig();
const PID = 'cost-instances';
const WATCHERS = 50;

const flowRequests = (samples: readonly Sample[], flowSchema: string): number =>
  total(samples, 'apiserver_flowcontrol_dispatched_requests_total', (l) => l.flow_schema === flowSchema);

describe('API cost of the instance reads and watches', () => {
  let ns: TestNamespace;
  let id: TestIdentity;
  let d: TestDaemon;
  let ic: InstancesClient;

  beforeAll(async () => {
    ns = await createTestNamespace('instances-cost');
    id = await createTestIdentity(ns.name, { flowSchema: true });
    const sa = new KubeConfig();
    sa.loadFromFile(id.kubeconfigPath);
    await waitFor(
      'the FlowSchema to classify the identity',
      async () => {
        await sa.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns.name });
        return flowRequests(await scrapeApiserver(admin), id.flowSchema!) > 0;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    d = await startTestDaemon(ns.name, {
      kubernetes: { kubeconfig: id.kubeconfigPath, resync_seconds: 3600 },
      // One usage poll per minute: the window below then holds at most one.
      usage: { interval_seconds: 60 },
      log: { level: 'warn' },
    });
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PID });
    for (let i = 0; i < 20; i++) {
      await call(d.client, 'Deploy', { providerId: PID, instanceId: `c-${i}`, image: 'busybox', resourceRequest: { cpu: 100, memory: 2 ** 24, gpu: 0 } });
    }
    await waitFor('the instances to run', () => d.daemon.tracker.list().filter((s) => s.phase === 'Running').length === 20);
  });
  afterAll(async () => {
    ic?.close();
    await d?.stop();
    await id?.cleanup();
    await ns?.cleanup();
  });

  it(`answers 1000 Get/List calls and feeds ${WATCHERS} watchers with no API request`, async () => {
    await new Promise((r) => setTimeout(r, 1500)); // let the deploys' own requests settle out of the window
    const before = await scrapeApiserver(admin);
    const started = Date.now();
    const polls = d.daemon.usageStats().pollsTotal;
    const watchers = Array.from({ length: WATCHERS }, () => new WatchRecorder(ic, PID));
    await waitFor('every watcher to have its snapshot', () =>
      watchers.every(
        (w) => w.events.filter((e) => e.type === 'WATCH_EVENT_TYPE_ADDED').length === 20 && w.events.some((e) => e.type === 'WATCH_EVENT_TYPE_SYNCED'),
      ),
    );
    let listed = 0;
    for (let i = 0; i < 500; i++) {
      const page = await icall<ListInstancesResponse__Output>(ic, 'ListInstances', { providerId: PID, pageSize: 7, phases: ['INSTANCE_PHASE_RUNNING'] });
      listed += page.instances.length;
      await icall(ic, 'GetInstance', { providerId: PID, instanceId: `c-${i % 20}` });
    }
    expect(d.daemon.instances.watchStats().watchers).toBe(WATCHERS);
    for (const w of watchers) w.close();
    // A cancelled watch leaves nothing behind in the daemon.
    await waitFor('every watch to be closed in the daemon', () => d.daemon.instances.watchStats().watchers === 0, { timeoutMs: 10_000 });
    const after = await scrapeApiserver(admin);
    const requests = flowRequests(after, id.flowSchema!) - flowRequests(before, id.flowSchema!);
    const pollsInWindow = d.daemon.usageStats().pollsTotal - polls;
    console.info(
      `[instances-cost] 1000 Get/List calls (${listed} instances listed) and ${WATCHERS} watches: ${requests} API requests by the daemon, ${pollsInWindow} usage polls`,
    );
    expect(listed).toBe(500 * 7);
    // Besides the usage polls, only the leader lease renewals, one per retry period whatever the calls.
    const renewals = Math.ceil((Date.now() - started) / (d.config.leader_election.retry_period_seconds * 1000)) + 1;
    expect(requests).toBeLessThanOrEqual(pollsInWindow + renewals);

    // The count is not blind: one Undeploy is one delete request by the daemon.
    await icall(ic, 'Undeploy', { providerId: PID, instanceId: 'c-0' });
    await waitFor(
      'the delete to be counted',
      async () => flowRequests(await scrapeApiserver(admin), id.flowSchema!) - flowRequests(after, id.flowSchema!) >= 1,
      { timeoutMs: 10_000 },
    );
  });
});

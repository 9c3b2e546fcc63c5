/**
 * Issue 2: a client built from the original contract (test/fixtures/contract,
 * none of our extensions) sees exactly the session rules and answers the
 * existing control plane relies on, over a real socket, against a daemon on
 * the real test cluster (the same suite runs against the daemon deployed in
 * the cluster in in-cluster.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { startTestDaemon, statusOf as code, type TestDaemon } from '../helpers/daemon.js';
import { CONTRACT_RESOURCE, CONTRACT_TAGS, describeContract, originalClient, rpc } from './contract-suite.js';

describeContract('the provider contract, as the existing control plane uses it', async () => {
  const ns = await createTestNamespace('contract');
  const d = await startTestDaemon(ns.name, { resource: { ...CONTRACT_RESOURCE }, resource_tags: [...CONTRACT_TAGS] });
  return {
    address: `127.0.0.1:${d.daemon.port}`,
    namespace: ns.name,
    logs: async () => d.logs,
    async stop() {
      await d.stop();
      await ns.cleanup();
    },
  };
});

describe('session expiry', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  beforeAll(async () => {
    ns = await createTestNamespace('expiry');
    d = await startTestDaemon(ns.name, { session: { health_timeout_seconds: 1 } });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('drops a session without HealthCheck for health_timeout_seconds, with a log line', async () => {
    const client = originalClient(`127.0.0.1:${d.daemon.port}`);
    expect((await rpc(client, 'Connect', { provider_id: 'cp-1' })).success).toBe(true);
    await new Promise((r) => setTimeout(r, 600));
    await rpc(client, 'HealthCheck', { provider_id: 'cp-1' }); // keeps it alive
    await new Promise((r) => setTimeout(r, 600));
    expect(await code(rpc(client, 'GetRealTimeUsage', { provider_id: 'cp-1' }))).toBe('OK');
    await waitFor('the session to expire', () => d.logs.some((l) => l.msg === 'session expired: no HealthCheck within the timeout'), { timeoutMs: 5000 });
    expect(await code(rpc(client, 'HealthCheck', { provider_id: 'cp-1' }))).toMatch(/^FAILED_PRECONDITION/);
    expect((await rpc(client, 'Connect', { provider_id: 'cp-2' })).success).toBe(true);
    client.close();
  });
});

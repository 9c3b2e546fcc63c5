/**
 * Issue 15 on the real node: an instance that really listens. busybox httpd
 * serves a file from the workload image; SendHttpRequest reaches it through
 * the API server's pod proxy, and the Service's EndpointSlice lists the
 * pod's real IP. The size limits are met for real, and an instance whose
 * port has nothing listening is UNAVAILABLE, not an answer.
 *
 * The NetworkPolicy is created here as everywhere, but the test cluster's
 * bridge CNI does not enforce NetworkPolicy, so the proxied request is not
 * a test of isolation (network.test.ts reads the objects back).
 *
 * Skipped with a printed reason when the node is off; with
 * CLUSTER_REAL_NODE=1 a missing node fails.
 */
import { CoreV1Api, DiscoveryV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { icall, instancesClient, type WireInstance } from '../helpers/instances.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { REAL_NODE_SELECTOR, REAL_NODE_TOLERATION, realNode } from '../helpers/real-node.js';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { GetInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetInstanceResponse.js';
import type { SendHttpRequestResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/SendHttpRequestResponse.js';

const MI = 2 ** 20;
const PROVIDER = 'real-node-network-cp';
const node = await realNode('real-node-network.test');
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);

/** A page of 4 KiB, and one of 8 KiB: over the test's 6 KiB response limit. */
const SERVE = [
  'mkdir -p /tmp/www/cgi-bin',
  'printf \'hello from %s\\n\' "$HOSTNAME" > /tmp/www/index.html',
  'head -c 4096 /dev/zero | tr "\\0" a > /tmp/www/small.txt',
  'head -c 8192 /dev/zero | tr "\\0" b > /tmp/www/big.txt',
  // A CGI script answers POSTs with what it was sent, so method, headers and body are seen arriving.
  "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho method=$REQUEST_METHOD\\necho x-test=$HTTP_X_TEST\\ncat\\n' > /tmp/www/cgi-bin/echo",
  'chmod +x /tmp/www/cgi-bin/echo',
  'exec httpd -f -v -p 8080 -h /tmp/www',
].join(' && ');

describe.skipIf(!node.available)('reaching instances on the real node', () => {
  const image = node.available ? node.workloadImage : '';
  let ns: TestNamespace;
  let d: TestDaemon;
  let ic: InstancesClient;

  const deploy = async (instanceId: string, workload: Record<string, unknown>): Promise<DeployResponse__Output> => {
    await call(d.client, 'HealthCheck', { providerId: PROVIDER });
    return call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PROVIDER,
      instanceId,
      image,
      resourceRequest: { cpu: 100, memory: 32 * MI, gpu: 0 },
      workload: { nodeSelector: REAL_NODE_SELECTOR, tolerations: [REAL_NODE_TOLERATION], ...workload },
    });
  };
  const get = async (instanceId: string): Promise<WireInstance> =>
    (await icall<GetInstanceResponse__Output>(ic, 'GetInstance', { providerId: PROVIDER, instanceId })).instance!;
  const send = (request: object): Promise<SendHttpRequestResponse__Output> =>
    icall<SendHttpRequestResponse__Output>(ic, 'SendHttpRequest', { providerId: PROVIDER, instanceId: 'httpd', ...request });

  beforeAll(async () => {
    buildCli();
    ns = await createTestNamespace('real-node-network');
    d = await startTestDaemon(ns.name, {
      resource: { cpu: 2000, memory: '1Gi', gpu: 0 },
      instances: { request: { max_response_bytes: 6 * 1024, max_request_bytes: 1024 } },
    });
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PROVIDER });
    const res = await deploy('httpd', { kind: 'POD', command: ['sh', '-c', SERVE], ports: [{ name: 'http', containerPort: 8080 }] });
    expect(res.error).toBe('');
    await waitFor('httpd running and ready', async () => (await get('httpd')).ready, { timeoutMs: 90_000, intervalMs: 500 });
    // Ready only means the container started (there is no probe): the shell
    // still writes the files before it execs httpd, which on a loaded machine
    // takes a moment. Wait until something answers on the port.
    await waitFor(
      'httpd listening',
      async () => {
        try {
          return (await send({ path: '/index.html', timeoutMs: 2000 })).statusCode === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });
  afterAll(async () => {
    ic?.close();
    await d?.stop();
    await ns?.cleanup();
  });

  it("answers a GET through the pod proxy with the pod's status, headers and body", async () => {
    const res = await send({ path: '/index.html' });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(res.body).toString()).toBe('hello from httpd\n');
    expect(res.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value).toMatch(/^text\/html/);
    expect(res.podName).toBe('httpd');
    const missing = await send({ path: '/nope.html' });
    expect(missing.statusCode).toBe(404);
  });

  it('forwards method, headers and body (a CGI script echoes them)', async () => {
    const res = await send({ method: 'POST', path: '/cgi-bin/echo', headers: [{ name: 'X-Test', value: 'forty-two' }], body: Buffer.from('payload\n') });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(res.body).toString()).toBe('method=POST\nx-test=forty-two\npayload\n');
  });

  it('holds the size limits: a body over max_request_bytes is refused, an answer over max_response_bytes too', async () => {
    expect((await send({ path: '/small.txt' })).body.length).toBe(4096);
    expect(await statusOf(send({ path: '/big.txt' }))).toBe(
      "RESOURCE_EXHAUSTED: the answer's body is 8192 bytes, more than instances.request.max_response_bytes (6144)",
    );
    expect(await statusOf(send({ method: 'POST', path: '/cgi-bin/echo', body: Buffer.alloc(1025) }))).toBe(
      'INVALID_ARGUMENT: body is 1025 bytes, more than instances.request.max_request_bytes (1024)',
    );
  });

  it('a port with nothing listening is UNAVAILABLE, not an answer', async () => {
    expect(await statusOf(send({ port: 9999, timeoutMs: 5000 }))).toMatch(/^UNAVAILABLE: nothing answered on pod httpd port 9999/);
  });

  it('reports the real pod IP with the Service, and the EndpointSlice lists it', async () => {
    const i = await get('httpd');
    const pod = await core.readNamespacedPod({ name: 'httpd', namespace: ns.name });
    expect(i.endpoint).toMatchObject({ serviceName: 'httpd', dnsName: `httpd.${ns.name}.svc`, podIp: pod.status?.podIP, serviceType: 'ClusterIP' });
    const slice = await waitFor('the EndpointSlice of httpd listing the pod, ready', async () => {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns.name, labelSelector: 'kubernetes.io/service-name=httpd' });
      return slices.items.find((s) => s.endpoints?.some((e) => e.addresses.includes(pod.status?.podIP ?? '-') && e.conditions?.ready));
    });
    expect(slice.endpoints?.[0]?.nodeName).toBe(pod.spec?.nodeName);
    expect(slice.ports).toEqual([expect.objectContaining({ name: 'http', port: 8080, protocol: 'TCP' })]);
    expect((await networking.readNamespacedNetworkPolicy({ name: 'httpd', namespace: ns.name })).spec?.podSelector?.matchLabels).toMatchObject({
      [LABEL_INSTANCE_ID]: 'httpd',
    });
  });

  it('the CLI sends the same requests: the body on stdout, --include adds status and headers, exit 1 from HTTP 400 on', async () => {
    const addr = ['--addr', `127.0.0.1:${d.daemon.port}`, '-p', PROVIDER];
    const page = await runCli(['request', 'httpd', ...addr, '--path', '/index.html']);
    expect(page).toEqual({ code: 0, stdout: 'hello from httpd\n', stderr: '' });
    const posted = await runCli(['request', 'httpd', ...addr, '-X', 'post', '--path', '/cgi-bin/echo', '-H', 'X-Test: cli', '-d', 'from the cli', '--include']);
    expect(posted.code).toBe(0);
    expect(posted.stdout).toMatch(/^HTTP 200\n(.+: .+\n)+\nmethod=POST\nx-test=cli\nfrom the cli$/);
    const missing = await runCli(['request', 'httpd', ...addr, '--path', '/nope.html']);
    expect([missing.code, missing.stderr]).toEqual([1, 'k8s-provider-cli: request: the instance answered HTTP 404\n']);
  });

  it('refuses requests once the instance is no longer Running', async () => {
    await icall(ic, 'Undeploy', { providerId: PROVIDER, instanceId: 'httpd', graceSeconds: 0 });
    expect(await statusOf(send({}))).toMatch(/^(FAILED_PRECONDITION: instance "httpd" is Terminating|NOT_FOUND)/);
  });
});

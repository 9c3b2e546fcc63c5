/**
 * Issue 15, items 1, 3 and 8: instances that can be reached and are
 * isolated. The daemon makes a Service and a NetworkPolicy per instance on
 * the real test API server; the objects are read back from it, the
 * EndpointSlice controller's slice is read back too, and after Undeploy the
 * garbage collector has left nothing of the instance. (The test cluster's
 * CNI does not enforce NetworkPolicy: the objects are what is checked.)
 */
import { BatchV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api, type V1NetworkPolicy, type V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { WatchRecorder, icall, instancesClient, type WireInstance } from '../helpers/instances.js';
import { leftovers } from '../helpers/leftovers.js';
import { LABEL_INSTANCE_ID, LABEL_MANAGED } from '../../src/shared/labels.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { GetInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetInstanceResponse.js';

const PID = 'cp-network';
const CONTROL_PLANE_CIDR = '10.20.0.0/16';
const LONG_RUNNING = { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);

/** Deploy of web-1 exactly as the first test sends it. */
const retryOfWeb1 = (): object => ({
  providerId: PID,
  instanceId: 'web-1',
  image: 'busybox',
  resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
  workload: {
    annotations: LONG_RUNNING,
    ports: [
      { name: 'http', containerPort: 8080 },
      { containerPort: 9000, protocol: 'udp' },
    ],
    labels: { app: 'shop' },
  },
});

describe('reachable and isolated instances', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let ic: InstancesClient;

  const deploy = (instanceId: string, workload: object): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
      workload: { annotations: LONG_RUNNING, ...workload },
    });
  const get = async (instanceId: string): Promise<WireInstance> =>
    (await icall<GetInstanceResponse__Output>(ic, 'GetInstance', { providerId: PID, instanceId })).instance!;
  const service = (name: string): Promise<V1Service> => core.readNamespacedService({ name, namespace: ns.name });
  const policy = (name: string): Promise<V1NetworkPolicy> => networking.readNamespacedNetworkPolicy({ name, namespace: ns.name });
  /** Everything of an instance the daemon (or a controller for it) made, of every kind. */
  const nothingLeft = (instanceId: string): Promise<unknown> =>
    waitFor(`nothing of ${instanceId} left`, async () => (await leftovers(ns.name, { instanceIds: [instanceId] })).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

  beforeAll(async () => {
    ns = await createTestNamespace('network');
    d = await startTestDaemon(ns.name, {
      resource: { cpu: 8000, memory: '8Gi', gpu: 0 },
      network: { ingress: { from_cidrs: [CONTROL_PLANE_CIDR], from_namespaces: ['monitoring'] } },
    });
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PID });
  });
  afterAll(async () => {
    ic?.close();
    await d?.stop();
    await ns?.cleanup();
  });

  it('gives an instance with ports a ClusterIP Service owned by its pod, and reports how to reach it', async () => {
    const res = await deploy('web-1', {
      ports: [
        { name: 'http', containerPort: 8080 },
        { containerPort: 9000, protocol: 'udp' },
      ],
      labels: { app: 'shop' },
    });
    expect(res.error).toBe('');
    const svc = await service('web-1');
    const pod = await core.readNamespacedPod({ name: 'web-1', namespace: ns.name });
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.selector).toEqual({ [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'web-1' });
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.targetPort, p.protocol])).toEqual([
      ['http', 8080, 8080, 'TCP'],
      ['udp-9000', 9000, 9000, 'UDP'],
    ]);
    expect(svc.metadata?.labels).toMatchObject({ app: 'shop', [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'web-1' });
    expect(svc.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: 'web-1', uid: pod.metadata?.uid, controller: true })]);
    expect(res.endpoint).toMatchObject({
      serviceName: 'web-1',
      dnsName: `web-1.${ns.name}.svc`,
      clusterIp: svc.spec?.clusterIP,
      expose: 'CLUSTER_IP',
    });
    expect(res.endpoint?.clusterIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(res.endpoint?.ports.map((p) => [p.name, p.port, p.protocol, p.nodePort])).toEqual([
      ['http', 8080, 'TCP', 0],
      ['udp-9000', 9000, 'UDP', 0],
    ]);
    expect(res.networkPolicy).toBe('web-1');

    // Once KWOK runs the pod it has an IP: GetInstance reports it with the Service, and the EndpointSlice controller lists it.
    const running = await waitFor('web-1 running with a pod IP', async () => {
      const i = await get('web-1');
      return i.phase === 'INSTANCE_PHASE_RUNNING' && i.endpoint?.podIp ? i : undefined;
    });
    const podIp = (await core.readNamespacedPod({ name: 'web-1', namespace: ns.name })).status?.podIP;
    expect(running.endpoint).toMatchObject({
      serviceName: 'web-1',
      dnsName: `web-1.${ns.name}.svc`,
      clusterIp: svc.spec?.clusterIP,
      podIp,
      serviceType: 'ClusterIP',
    });
    expect(running.podIp).toBe(podIp);
    expect(running.networkPolicy).toBe('web-1');
    const slice = await waitFor('the EndpointSlice of web-1 to list its pod', async () => {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns.name, labelSelector: 'kubernetes.io/service-name=web-1' });
      return slices.items.find((s) => s.endpoints?.some((e) => e.addresses.includes(podIp ?? '-')));
    });
    expect(slice.endpoints?.[0]?.targetRef).toMatchObject({ kind: 'Pod', name: 'web-1' });
    expect(slice.ports?.map((p) => p.port).sort()).toEqual([8080, 9000]);
  });

  it('isolates every instance by default: ingress only from the configured sources and its peers', async () => {
    const np = await policy('web-1');
    expect(np.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Pod', name: 'web-1' });
    expect(np.spec?.podSelector).toEqual({ matchLabels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'web-1' } });
    expect(np.spec?.policyTypes).toEqual(['Ingress']);
    // No peer label: the configured CIDR and namespace only.
    expect(np.spec?.ingress).toEqual([
      {
        _from: [{ ipBlock: { cidr: CONTROL_PLANE_CIDR } }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      },
    ]);

    await deploy('peer-a', { labels: { app: 'shop' }, network: { peerLabel: 'app' } });
    const peers = await policy('peer-a');
    expect(peers.spec?.ingress?.[0]?._from).toContainEqual({ podSelector: { matchLabels: { [LABEL_MANAGED]: 'true', app: 'shop' } } });
    // No ports: no Service, but still isolated.
    expect(await statusOf(service('peer-a'))).not.toBe('OK');
    expect((await get('peer-a')).endpoint).toBeNull();
    expect((await get('peer-a')).networkPolicy).toBe('peer-a');
    // The instance API reads back what the policy lets in, the peer group and the labels.
    const peerA = await waitFor('peer-a with its ingress sources in the instance API', async () => {
      const i = await get('peer-a');
      return i.ingressFrom.length > 0 ? i : undefined;
    });
    expect(peerA).toMatchObject({
      labels: { app: 'shop' },
      peerGroup: 'app=shop',
      ingressFrom: [CONTROL_PLANE_CIDR, 'namespace monitoring', 'pods app=shop'],
    });
    expect(await get('web-1')).toMatchObject({ labels: { app: 'shop' }, peerGroup: '', ingressFrom: [CONTROL_PLANE_CIDR, 'namespace monitoring'] });
  });

  it('NODE_PORT gives a NodePort Service and reports the node port', async () => {
    const res = await deploy('edge-1', { ports: [{ containerPort: 8443 }], expose: 'NODE_PORT' });
    const svc = await service('edge-1');
    expect(svc.spec?.type).toBe('NodePort');
    const nodePort = svc.spec?.ports?.[0]?.nodePort;
    expect(nodePort).toBeGreaterThan(0);
    expect(res.endpoint).toMatchObject({ expose: 'NODE_PORT', ports: [{ name: 'tcp-8443', port: 8443, protocol: 'TCP', nodePort }] });
    const seen = await waitFor('edge-1 in the instance API with its node port', async () => (await get('edge-1')).endpoint ?? undefined);
    expect(seen).toMatchObject({ serviceType: 'NodePort', ports: [{ nodePort }] });
  });

  it('a Job with ports has its Service and NetworkPolicy owned by the Job', async () => {
    await deploy('batch-1', { kind: 'JOB', ports: [{ containerPort: 7000 }] });
    const job = await batch.readNamespacedJob({ name: 'batch-1', namespace: ns.name });
    for (const o of [await service('batch-1'), await policy('batch-1')]) {
      expect(o.metadata?.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'batch/v1', kind: 'Job', uid: job.metadata?.uid })]);
    }
  });

  it('refuses bad network fields naming them, and creates nothing', async () => {
    const bad: Array<[string, object, string]> = [
      ['bad-expose', { expose: 'NODE_PORT' }, 'workload.expose NODE_PORT needs at least one of workload.ports'],
      ['bad-optout', { network: { isolate: false } }, 'workload.network.isolate: false is not allowed'],
      ['bad-peer', { network: { peerLabel: 'team' }, labels: { app: 'x' } }, 'workload.network.peer_label "team" is not one of workload.labels'],
      ['bad-peer-key', { network: { peerLabel: 'not a key' } }, 'workload.network.peer_label "not a key"'],
    ];
    for (const [id, workload, message] of bad) {
      const res = await deploy(id, workload);
      expect(res.error).toContain('INVALID_ARGUMENT');
      expect(res.error).toContain(message);
      expect(await leftovers(ns.name, { instanceIds: [id] })).toEqual([]);
    }
  });

  it('a retried Deploy reports the same endpoint without making anything twice', async () => {
    const podIp = await waitFor('web-1 to have a pod IP', async () => (await core.readNamespacedPod({ name: 'web-1', namespace: ns.name })).status?.podIP);
    await waitFor('the instance API to know the pod IP', async () => (await get('web-1')).endpoint?.podIp === podIp);
    const first = await call<DeployResponse__Output>(d.client, 'Deploy', retryOfWeb1());
    expect(first.error).toBe('');
    expect(first.created).toBe(false);
    expect(first.endpoint?.clusterIp).toBe((await service('web-1')).spec?.clusterIP);
    // The pod runs already, so its IP is known: the retry reports it.
    expect(first.endpoint?.podIp).toBe(podIp);
    expect(first.networkPolicy).toBe('web-1');

    // A Service lost (deleted by hand, or never made because the daemon stopped in between) is made again by the retry.
    const before = await service('web-1');
    const watch = new WatchRecorder(ic, PID);
    await watch.next('the snapshot', (e) => e.type === 'WATCH_EVENT_TYPE_SYNCED');
    const from = watch.events.length;
    await core.deleteNamespacedService({ name: 'web-1', namespace: ns.name });
    await waitFor('the daemon to see the Service gone', async () => (await get('web-1')).endpoint === null);
    // The pod did not change, yet watchers hear that the instance lost its endpoint.
    await watch.next('a MODIFIED event of web-1 without endpoint', (e) => e.instance?.instanceId === 'web-1' && e.instance.endpoint === null, from);
    const again = await call<DeployResponse__Output>(d.client, 'Deploy', retryOfWeb1());
    expect(again).toMatchObject({ error: '', created: false, networkPolicy: 'web-1' });
    const remade = await service('web-1');
    expect(remade.metadata?.uid).not.toBe(before.metadata?.uid);
    expect(remade.metadata?.ownerReferences?.[0]?.uid).toBe(before.metadata?.ownerReferences?.[0]?.uid);
    expect(again.endpoint?.clusterIp).toBe(remade.spec?.clusterIP);
    await watch.next('a MODIFIED event of web-1 with the new cluster IP', (e) => e.instance?.endpoint?.clusterIp === remade.spec?.clusterIP, from);
    watch.close();
  });

  it('SendHttpRequest: session rules, every field checked, only to a Running and ready instance', async () => {
    const send = (request: object): Promise<string> => statusOf(icall(ic, 'SendHttpRequest', { providerId: PID, instanceId: 'web-1', ...request }));
    expect(await statusOf(icall(ic, 'SendHttpRequest', { providerId: 'someone-else', instanceId: 'web-1' }))).toMatch(/^PERMISSION_DENIED/);
    expect(await send({ instanceId: 'nope' })).toBe('NOT_FOUND: instance "nope" does not exist');
    const invalid = await send({
      method: 'TRACE',
      path: '/../../secrets',
      headers: [
        { name: 'Authorization', value: 'Bearer x' },
        { name: 'Impersonate-User', value: 'admin' },
      ],
      body: Buffer.alloc(2 * 1024 * 1024),
      port: 70000,
    });
    expect(invalid).toMatch(/^INVALID_ARGUMENT/);
    for (const part of [
      'port 70000 is not in 1-65535',
      'method "TRACE"',
      'path must not contain "." or ".." segments',
      'Authorization may not be set',
      'Impersonate-User may not be set',
      'more than instances.request.max_request_bytes (1048576)',
    ]) {
      expect(invalid).toContain(part);
    }
    expect(await send({ path: '/%2e%2e/x' })).toMatch(/^INVALID_ARGUMENT: path must not contain "\." or "\.\." segments/);
    // Two TCP ports would be ambiguous; web-1 has one TCP and one UDP port, so port 0 means 8080.
    // KWOK's pod IPs lead nowhere real: the request gets past every check and is proxied; what answers (nothing,
    // or this machine's egress filter) depends on the host. The real answers are tested on the real node.
    expect(await send({ path: '/healthz', timeoutMs: 3000 })).toMatch(
      /^(OK|UNAVAILABLE: (nothing answered on pod web-1 port 8080|pod web-1 port 8080 gave no complete answer))/,
    );

    await deploy('waiting-1', { ports: [{ containerPort: 80 }], nodeSelector: { 'no-such-node': 'x' } });
    await waitFor('waiting-1 to be seen Pending', async () => (await get('waiting-1')).phase === 'INSTANCE_PHASE_PENDING');
    expect(await send({ instanceId: 'waiting-1' })).toMatch(
      /^FAILED_PRECONDITION: instance "waiting-1" is Pending(: Unschedulable)?: requests go only to a Running instance whose container is ready$/,
    );
    await deploy('quiet-1', {});
    await waitFor('quiet-1 running', async () => (await get('quiet-1')).ready);
    expect(await send({ instanceId: 'quiet-1' })).toBe('INVALID_ARGUMENT: port is required: instance "quiet-1" has no exposed TCP port to default to');
    for (const id of ['waiting-1', 'quiet-1']) await icall(ic, 'Undeploy', { providerId: PID, instanceId: id, graceSeconds: 0 });
  });

  it('after Undeploy nothing of the instance is left: workload, Service, EndpointSlice, NetworkPolicy', async () => {
    for (const id of ['web-1', 'peer-a', 'edge-1', 'batch-1']) {
      await icall(ic, 'Undeploy', { providerId: PID, instanceId: id, graceSeconds: 0 });
    }
    for (const id of ['web-1', 'peer-a', 'edge-1', 'batch-1']) await nothingLeft(id);
    await waitFor('the instance API to drop the endpoints', async () => (await statusOf(get('web-1'))).startsWith('NOT_FOUND'));
  });
});

describe('network.isolate: false', () => {
  let ns: TestNamespace;
  let d: TestDaemon;

  beforeAll(async () => {
    ns = await createTestNamespace('network-open');
    d = await startTestDaemon(ns.name, { network: { isolate: false } });
    await call(d.client, 'Connect', { providerId: PID });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('makes no NetworkPolicy unless a workload asks for isolation', async () => {
    const deploy = (instanceId: string, network?: object): Promise<DeployResponse__Output> =>
      call<DeployResponse__Output>(d.client, 'Deploy', {
        providerId: PID,
        instanceId,
        image: 'busybox',
        resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
        workload: { annotations: LONG_RUNNING, ports: [{ containerPort: 80 }], ...(network ? { network } : {}) },
      });
    const open = await deploy('open-1');
    expect(open.networkPolicy).toBe('');
    expect((await networking.listNamespacedNetworkPolicy({ namespace: ns.name })).items).toEqual([]);
    expect(open.endpoint?.serviceName).toBe('open-1');
    const closed = await deploy('closed-1', { isolate: true });
    expect(closed.networkPolicy).toBe('closed-1');
    const closedPolicy = await policyIn(ns.name, 'closed-1');
    expect(closedPolicy.spec?.policyTypes).toEqual(['Ingress']);
    expect(closedPolicy.spec?.ingress ?? []).toEqual([]);
  });
});

describe('network.egress.allow_all: false', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  const EGRESS_CIDR = '10.30.0.0/16';

  beforeAll(async () => {
    ns = await createTestNamespace('network-egress');
    d = await startTestDaemon(ns.name, { network: { egress: { allow_all: false, to_cidrs: [EGRESS_CIDR], dns: true } } });
    await call(d.client, 'Connect', { providerId: PID });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('closes egress but for DNS, the configured CIDRs and the peers, as read back from the API server', async () => {
    const res = await call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PID,
      instanceId: 'shut-1',
      image: 'busybox',
      resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
      workload: { annotations: LONG_RUNNING, labels: { app: 'vault' }, network: { peerLabel: 'app' } },
    });
    expect(res).toMatchObject({ error: '', networkPolicy: 'shut-1' });
    const np = await policyIn(ns.name, 'shut-1');
    const pod = await core.readNamespacedPod({ name: 'shut-1', namespace: ns.name });
    expect(np.metadata?.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'Pod', uid: pod.metadata?.uid })]);
    expect(np.spec?.podSelector).toEqual({ matchLabels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'shut-1' } });
    // Both directions are governed: what no egress rule allows is denied.
    expect(np.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    const peers = { podSelector: { matchLabels: { [LABEL_MANAGED]: 'true', app: 'vault' } } };
    expect(np.spec?.ingress).toEqual([{ _from: [peers] }]);
    expect(np.spec?.egress).toEqual([
      {
        to: [{ namespaceSelector: {} }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      { to: [{ ipBlock: { cidr: EGRESS_CIDR } }, peers] },
    ]);
  });
});

const policyIn = (namespace: string, name: string): Promise<V1NetworkPolicy> => networking.readNamespacedNetworkPolicy({ name, namespace });

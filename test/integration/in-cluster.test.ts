/**
 * Issue 13: the daemon in-cluster for real. Its image is built locally
 * (./build.sh on a Debian minbase + Node LTS base, test/cluster/images.sh),
 * imported into the real node's containerd, and k8s-deployment.yaml is
 * applied as a user would, with only the image, the capacity and the real
 * node's selector and toleration changed. The daemon then runs with its
 * ServiceAccount and namespaced Role through the in-cluster config, passes
 * its gRPC probes, runs as non-root on a read-only root filesystem under the
 * restricted Pod Security level, and a client on the host reaches it
 * through its Service (ClusterIP, translated by kube-proxy). The contract
 * suite (contract-suite.ts) runs against it as well. Then the Helm chart is
 * installed with the same image, and its daemon checked the same way.
 *
 * Skipped with a printed reason when the real node is off.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, type KubernetesObject, type V1ConfigMap, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiStatusOf, httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { kubeconfigPath, makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { tool } from '../helpers/tools.js';
import { call, makeClientAt, type LogLine } from '../helpers/daemon.js';
import { CONTRACT_RESOURCE, CONTRACT_TAGS, describeContract } from './contract-suite.js';
import { REAL_NODE_CONTAINERD_SOCKET, REAL_NODE_SELECTOR, REAL_NODE_TOLERATION, realNode } from '../helpers/real-node.js';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEM = 'iarnet-system';
const WORKLOADS = 'iarnet-workloads';
const GI = 2 ** 30;
const node = await realNode('in-cluster.test');

const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

/** k8s-deployment.yaml with the local image, a small capacity and the real node's placement. */
function manifests(image: string): KubernetesObject[] {
  const docs = parseAllDocuments(readFileSync(join(root, 'k8s-deployment.yaml'), 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
  for (const o of docs) {
    if (o.kind === 'ConfigMap' && o.metadata?.name === 'k8s-provider-config') {
      const cm = o as V1ConfigMap;
      const config = parse(cm.data!['config.yaml']!) as Record<string, Record<string, unknown>>;
      // What the contract suite expects of a fresh daemon.
      config.resource = { mode: 'static', ...CONTRACT_RESOURCE };
      (config as Record<string, unknown>).resource_tags = [...CONTRACT_TAGS];
      cm.data!['config.yaml'] = stringify(config);
    }
    if (o.kind === 'Deployment') {
      // One replica: the contract suite reads one pod's log and counts each
      // Deploy outcome once, which a standby forwarding to the leader would
      // log twice. Two replicas are tested as processes (continuity.test.ts).
      (o as V1Deployment).spec!.replicas = 1;
      const spec = (o as V1Deployment).spec!.template.spec!;
      spec.containers[0]!.image = image;
      spec.nodeSelector = { ...REAL_NODE_SELECTOR };
      spec.tolerations = [{ ...REAL_NODE_TOLERATION }];
    }
  }
  return docs;
}

/** The host pid of the daemon's container process (the node runs on this machine). */
function containerPid(podUid: string): number {
  const cgroupKey = `pod${podUid}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('dist/src/main.js') && readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(cgroupKey)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no process of pod ${podUid} found`);
}

interface InCluster {
  image: string;
  pod: V1Pod;
  /** ClusterIP:port of its Service, translated by kube-proxy on this host. */
  address: string;
}

let deployed: Promise<InCluster> | undefined;

/** Builds and imports the image, applies the manifest and waits until the daemon is ready; once per file. */
function inCluster(): Promise<InCluster> {
  deployed ??= (async () => {
    // First time: a Debian rootfs, node from npm, npm ci and tsc in the build (a few minutes); then cached by content.
    const image = execFileSync('bash', [join(root, 'test', 'cluster', 'images.sh'), 'daemon', REAL_NODE_CONTAINERD_SOCKET], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    // As a user would: kubectl apply (the namespace's default ServiceAccount races with its controller).
    const kubectl = join(process.env.CLUSTER_BIN ?? join(root, '.cluster', 'bin'), 'kubectl');
    execFileSync(kubectl, ['--kubeconfig', kubeconfigPath(), 'apply', '-f', '-'], {
      input: manifests(image)
        .map((o) => stringify(o))
        .join('---\n'),
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    await waitFor(
      'the Deployment to be available (startup and readiness gRPC probes pass)',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'k8s-provider', namespace: SYSTEM });
        return (d.status?.availableReplicas ?? 0) >= 1;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    const pod = (await core.listNamespacedPod({ namespace: SYSTEM, labelSelector: 'app.kubernetes.io/name=k8s-provider' })).items[0]!;
    const svc = await core.readNamespacedService({ name: 'k8s-provider', namespace: SYSTEM });
    return { image, pod, address: `${svc.spec!.clusterIP!}:50052` };
  })();
  return deployed;
}

/** The daemon's JSON log lines, read through the API server from the kubelet. */
async function daemonLogs(): Promise<LogLine[]> {
  const { pod } = await inCluster();
  const text = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: SYSTEM, container: 'k8s-provider' });
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The last lines the daemon's previous container wrote (after a restart), or why they could not be read. */
async function previousLog(pod: V1Pod): Promise<string[]> {
  try {
    const text = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: SYSTEM, container: 'k8s-provider', previous: true, tailLines: 20 });
    return text.split('\n');
  } catch (err) {
    return [`previous log not readable: ${(err as Error).message}`];
  }
}

/** Deletes both namespaces (and so everything in them) and waits until they are gone. */
async function removeNamespaces(): Promise<void> {
  for (const ns of [SYSTEM, WORKLOADS]) {
    try {
      await core.deleteNamespace({ name: ns });
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
  }
  await waitFor(
    'the namespaces to be gone',
    async () => {
      const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
      return !names.includes(SYSTEM) && !names.includes(WORKLOADS);
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
}

// Other files apply the same manifest and chart under the same names.
afterAll(async () => {
  if (deployed) await removeNamespaces();
}, 180_000);

// The contract suite first, on the fresh daemon (it counts the daemon's Deploy outcomes).
describeContract(
  'the provider contract, against the daemon in the cluster',
  async () => {
    const { address } = await inCluster();
    return { address, namespace: WORKLOADS, logs: daemonLogs, stop: async () => {} };
  },
  { skip: !node.available },
);

describe.skipIf(!node.available)('the daemon in-cluster on the real node', () => {
  let image = '';
  let pod: V1Pod;
  let client: ServiceClient;
  let serviceAddress = '';

  beforeAll(async () => {
    ({ image, pod, address: serviceAddress } = await inCluster());
    client = makeClientAt(serviceAddress);
    buildCli();
  }, 900_000);
  afterAll(() => client?.close());

  it('runs on the real node from the local image, ready, with no restarts', async () => {
    expect(pod.spec?.nodeName).toBe(node.available && node.name);
    const status = pod.status!.containerStatuses![0]!;
    expect(status.image).toContain(image.split(':')[0]);
    expect(status.ready).toBe(true);
    // After a restart the report carries what ended the first container and its last log lines, or the cause is gone with the cluster.
    const previous = status.restartCount === 0 ? undefined : { terminated: status.lastState?.terminated, log: await previousLog(pod) };
    expect({ restartCount: status.restartCount, previous }).toEqual({ restartCount: 0, previous: undefined });
  });

  it('runs as non-root on a read-only root filesystem', () => {
    const pid = containerPid(pod.metadata!.uid!);
    const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    expect(uid?.slice(1, 3)).toEqual(['65532', '65532']);
    const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[4] === '/');
    expect(rootMount?.split(' ')[5]?.split(',')).toContain('ro');
  });

  it('is in a namespace that enforces the restricted Pod Security level, which refuses a root pod', async () => {
    const ns = await core.readNamespace({ name: SYSTEM });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const err = await core.createNamespacedPod({ namespace: SYSTEM, body: { metadata: { name: 'root' }, spec: { containers: [{ name: 'c', image }] } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(httpStatusOf(err)).toBe(403);
    expect(apiStatusOf(err)?.message).toContain('violates PodSecurity "restricted');
  });

  it('uses the in-cluster config of its ServiceAccount', async () => {
    expect(pod.spec?.serviceAccountName).toBe('k8s-provider');
    const logs = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: SYSTEM });
    // It listed and watched its workload namespace through the Role: no permission errors at start-up.
    expect(logs).not.toMatch(/forbidden/i);
    expect(logs).toContain(WORKLOADS);
  });

  it('answers a client on the host through its Service: health, capacity and a Deploy', async () => {
    // The operator's probe (grpc.health.v1), as the kubelet's probes ask it.
    const probe = await runCli(['probe', '--addr', serviceAddress]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toContain('SERVING');
    const cap = await call<{ capacity: { total: { cpu: string; memory: string; gpu: string } } }>(client, 'GetCapacity', { providerId: '' });
    expect(cap.capacity.total).toMatchObject({ cpu: '4000', memory: String(4 * GI), gpu: '2' });
    await call(client, 'Connect', { providerId: 'in-cluster-cp' });
    const res = await call<{ error: string }>(client, 'Deploy', {
      providerId: 'in-cluster-cp',
      instanceId: 'from-host',
      image,
      resourceRequest: { cpu: 100, memory: 64 * 2 ** 20, gpu: 0 },
    });
    expect(res.error).toBe('');
    await waitFor(
      'the instance pod in the workload namespace',
      async () => (await core.listNamespacedPod({ namespace: WORKLOADS, labelSelector: `${LABEL_INSTANCE_ID}=from-host` })).items.length === 1,
    );
  });

  it('records its session events on its own pod (downward API, the events Role beside it) and Deployed on the instance', async () => {
    const kubectl = join(process.env.CLUSTER_BIN ?? join(root, '.cluster', 'bin'), 'kubectl');
    const describe = (namespace: string, name: string): string =>
      execFileSync(kubectl, ['--kubeconfig', kubeconfigPath(), '-n', namespace, 'describe', 'pod', name], { encoding: 'utf8' });
    const events = (text: string): string => text.slice(text.indexOf('\nEvents:'));
    await waitFor('Connected on the daemon pod', () => /Connected\s+.*iarnet\.io\/k8s-provider/.test(events(describe(SYSTEM, pod.metadata!.name!))));
    expect(events(describe(SYSTEM, pod.metadata!.name!))).toMatch(/Normal\s+Connected\s+.*iarnet\.io\/k8s-provider\s+provider "in-cluster-cp" connected/);
    await waitFor('Deployed on the instance pod', () => /Deployed\s+.*iarnet\.io\/k8s-provider/.test(events(describe(WORKLOADS, 'from-host'))));
    const logs = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: SYSTEM });
    expect(logs).not.toContain('optional permission missing');
    expect(logs).not.toContain('cannot write Kubernetes Events');
  });
});

describe.skipIf(!node.available)('the Helm chart, installed with the same image on the real node', () => {
  const chart = join(root, 'deploy', 'helm', 'k8s-provider');
  let helm = '';
  let image = '';
  const kubeEnv = (): NodeJS.ProcessEnv => ({ ...process.env, KUBECONFIG: kubeconfigPath() });

  beforeAll(async () => {
    ({ image } = await inCluster());
    // The manifest's objects go first: the chart makes the same ones.
    await removeNamespaces();
    helm = await tool('helm');
    // As the README says: the release namespace with the restricted level, then the chart.
    await core.createNamespace({ body: { metadata: { name: SYSTEM, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
    const values = {
      image: { repository: image.slice(0, image.lastIndexOf(':')), tag: image.slice(image.lastIndexOf(':') + 1) },
      nodeSelector: { ...REAL_NODE_SELECTOR },
      tolerations: [{ ...REAL_NODE_TOLERATION }],
      config: { resource: { mode: 'static', cpu: 3000, memory: '3Gi', gpu: 1 } },
    };
    execFileSync(helm, ['install', 'k8s-provider', chart, '--namespace', SYSTEM, '--values', '-', '--wait', '--timeout', '3m'], {
      input: JSON.stringify(values),
      env: kubeEnv(),
      stdio: ['pipe', 'ignore', 'inherit'],
    });
  }, 900_000);
  afterAll(() => {
    if (helm) execFileSync(helm, ['uninstall', 'k8s-provider', '--namespace', SYSTEM, '--wait'], { env: kubeEnv(), stdio: 'ignore' });
  }, 180_000);

  it('runs on the real node, ready, as non-root on a read-only root filesystem', async () => {
    // The chart's default is two replicas under leader election; helm --wait waited for both.
    const d = await apps.readNamespacedDeployment({ name: 'k8s-provider', namespace: SYSTEM });
    expect(d.spec?.replicas).toBe(2);
    expect(d.status?.availableReplicas).toBe(2);
    const pods = (await core.listNamespacedPod({ namespace: SYSTEM, labelSelector: 'app.kubernetes.io/name=k8s-provider' })).items;
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(node.available && node.name);
      const pid = containerPid(pod.metadata?.uid ?? '');
      expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]).toBe('65532');
    }
  });

  it('answers through its Service with the capacity from the chart values', async () => {
    const svc = await core.readNamespacedService({ name: 'k8s-provider', namespace: SYSTEM });
    const address = `${svc.spec?.clusterIP}:50052`;
    const probe = await runCli(['probe', '--addr', address]);
    expect(probe.stdout).toContain('SERVING');
    const c = makeClientAt(address);
    try {
      const cap = await call<{ capacity: { total: { cpu: string; memory: string; gpu: string } } }>(c, 'GetCapacity', { providerId: '' });
      expect(cap.capacity.total).toMatchObject({ cpu: '3000', memory: String(3 * GI), gpu: '1' });
    } finally {
      c.close();
    }
  });
});

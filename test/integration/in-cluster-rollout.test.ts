/**
 * Issue 13: the two-replica rolling update, in-cluster for real. The daemon's
 * image (built and imported as in in-cluster.test.ts) runs from
 * k8s-deployment.yaml with its two replicas on the real node, in namespaces
 * of this file's own. A client like iarnet, connected through the Service's
 * ClusterIP (kube-proxy on this host), calls HealthCheck every second with a
 * 5 s deadline, GetAvailable and Deploy meanwhile; `kubectl rollout restart`
 * replaces both pods. Not one call may fail (one failed HealthCheck marks
 * the provider disconnected for good), the session carries over without a
 * new Connect, and every Deploy that succeeded made exactly one pod.
 *
 * Skipped with a printed reason when the real node is off.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
  type V1RoleBinding,
} from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';
import { kubeconfigPath, makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { call, makeClientAt } from '../helpers/daemon.js';
import { REAL_NODE_CONTAINERD_SOCKET, REAL_NODE_SELECTOR, REAL_NODE_TOLERATION, realNode } from '../helpers/real-node.js';
import { IarnetClient } from '../helpers/replicas.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const suffix = randomBytes(3).toString('hex');
const SYSTEM = `rollout-system-${suffix}`;
const WORKLOADS = `rollout-workloads-${suffix}`;
const RENAME: Record<string, string> = { 'iarnet-system': SYSTEM, 'iarnet-workloads': WORKLOADS };
const APP = 'app.kubernetes.io/name=k8s-provider';
const PROVIDER = 'iarnet-rollout';
const node = await realNode('in-cluster-rollout.test');

const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const coordination = kc.makeApiClient(CoordinationV1Api);
const kubectl = join(process.env.CLUSTER_BIN ?? join(root, '.cluster', 'bin'), 'kubectl');
/** Asynchronous: the client's timers must keep firing while kubectl waits for the rollout. */
const kubectlRun = async (...args: string[]): Promise<string> =>
  (await promisify(execFile)(kubectl, ['--kubeconfig', kubeconfigPath(), ...args], { encoding: 'utf8' })).stdout;

/** The daemon pods' logs, read every second so a pod's last lines are kept after it is gone. */
class PodLogs {
  private readonly text = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  start(): void {
    const poll = async (): Promise<void> => {
      const pods = (await core.listNamespacedPod({ namespace: SYSTEM, labelSelector: APP })).items;
      await Promise.all(
        pods.map(async (p) => {
          const name = p.metadata!.name!;
          try {
            this.text.set(name, await core.readNamespacedPodLog({ name, namespace: SYSTEM, container: 'k8s-provider' }));
          } catch {
            // not started yet, or gone
          }
        }),
      );
    };
    this.timer = setInterval(() => void poll().catch(() => undefined), 1000);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  /** The lines about leadership, forwarding, shutdown and refused calls, of every pod, in time order. */
  telling(): string[] {
    const lines: Array<{ time: string; line: string }> = [];
    for (const [pod, text] of this.text) {
      for (const l of text.split('\n')) {
        if (!l.startsWith('{')) continue;
        const o = JSON.parse(l) as Record<string, unknown>;
        const msg = String(o.msg);
        if (/lease|active replica|forward|stopping|stopped|drain|listening/.test(msg) || (msg === 'rpc' && o.code !== 'OK')) {
          lines.push({
            time: String(o.time),
            line: `${String(o.time)} ${pod} ${msg} ${JSON.stringify({ ...o, time: undefined, msg: undefined, pid: undefined, hostname: undefined, level: undefined })}`,
          });
        }
      }
    }
    return lines.sort((a, b) => a.time.localeCompare(b.time)).map((l) => l.line);
  }
}

/** k8s-deployment.yaml as shipped (two replicas), in this file's namespaces, with the local image on the real node. */
function manifests(image: string): KubernetesObject[] {
  const docs = parseAllDocuments(readFileSync(join(root, 'k8s-deployment.yaml'), 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
  for (const o of docs) {
    const meta = o.metadata!;
    if (o.kind === 'Namespace') meta.name = RENAME[meta.name!] ?? meta.name;
    else if (meta.namespace) meta.namespace = RENAME[meta.namespace] ?? meta.namespace;
    if (o.kind === 'RoleBinding') for (const s of (o as V1RoleBinding).subjects ?? []) s.namespace = RENAME[s.namespace ?? ''] ?? s.namespace;
    if (o.kind === 'ConfigMap' && meta.name === 'k8s-provider-config') {
      const cm = o as V1ConfigMap;
      const config = parse(cm.data!['config.yaml']!) as Record<string, Record<string, unknown>>;
      config.kubernetes!.namespace = WORKLOADS;
      config.resource = { mode: 'static', cpu: 4000, memory: '4Gi', gpu: 0 };
      cm.data!['config.yaml'] = stringify(config);
    }
    if (o.kind === 'Deployment') {
      const spec = (o as V1Deployment).spec!.template.spec!;
      spec.containers[0]!.image = image;
      spec.nodeSelector = { ...REAL_NODE_SELECTOR };
      spec.tolerations = [{ ...REAL_NODE_TOLERATION }];
    }
  }
  return docs;
}

async function deployment(): Promise<V1Deployment> {
  return apps.readNamespacedDeployment({ name: 'k8s-provider', namespace: SYSTEM });
}

/** Both replicas of the current template available, none of an older one left. */
async function rolledOut(): Promise<boolean> {
  const d = await deployment();
  const s = d.status;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    s?.updatedReplicas === 2 &&
    s.availableReplicas === 2 &&
    s.replicas === 2 &&
    (s.unavailableReplicas ?? 0) === 0
  );
}

async function podNames(): Promise<string[]> {
  const pods = (await core.listNamespacedPod({ namespace: SYSTEM, labelSelector: APP })).items;
  return pods.map((p) => p.metadata!.name!).sort();
}

async function removeNamespaces(): Promise<void> {
  for (const name of [SYSTEM, WORKLOADS]) {
    try {
      await core.deleteNamespace({ name });
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

describe.skipIf(!node.available)('a rolling update of the two in-cluster replicas', () => {
  let address = '';
  let iarnet: IarnetClient | undefined;
  let applied = false;

  beforeAll(async () => {
    // Cached by content; the first build takes a few minutes.
    const image = execFileSync('bash', [join(root, 'test', 'cluster', 'images.sh'), 'daemon', REAL_NODE_CONTAINERD_SOCKET], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    applied = true;
    execFileSync(kubectl, ['--kubeconfig', kubeconfigPath(), 'apply', '-f', '-'], {
      input: manifests(image)
        .map((o) => stringify(o))
        .join('---\n'),
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    await waitFor('both replicas to be available', rolledOut, { timeoutMs: 240_000, intervalMs: 1000 });
    const svc = await core.readNamespacedService({ name: 'k8s-provider', namespace: SYSTEM });
    address = `${svc.spec!.clusterIP!}:50052`;
  }, 900_000);

  afterAll(async () => {
    await iarnet?.stop();
    iarnet?.close();
    if (applied) await removeNamespaces();
  }, 180_000);

  it('fails no call of the control plane and keeps its session', async () => {
    const first = makeClientAt(address);
    expect(await call(first, 'Connect', { providerId: PROVIDER })).toMatchObject({ success: true });
    first.close();
    const before = await podNames();
    expect(before).toHaveLength(2);
    const holderBefore = (await coordination.readNamespacedLease({ name: 'k8s-provider-leader', namespace: WORKLOADS })).spec?.holderIdentity;
    expect(before).toContain(holderBefore);

    const podLogs = new PodLogs();
    podLogs.start();
    iarnet = new IarnetClient(address, PROVIDER, { healthEveryMs: 1000, deployEveryMs: 2000, availableEveryMs: 1000, prefix: 'roll', cpu: 10 });
    iarnet.start();
    await new Promise((r) => setTimeout(r, 5000));

    const started = Date.now();
    await kubectlRun('--namespace', SYSTEM, 'rollout', 'restart', 'deployment/k8s-provider');
    await waitFor('the generation to be observed', async () => !(await rolledOut()), { timeoutMs: 30_000, intervalMs: 200 }).catch(() => undefined);
    await kubectlRun('--namespace', SYSTEM, 'rollout', 'status', 'deployment/k8s-provider', '--timeout=300s');
    await waitFor('the rollout to finish', rolledOut, { timeoutMs: 300_000, intervalMs: 1000 });
    const rolloutMs = Date.now() - started;
    // The old pods gone, not just unready: calls keep going until then and a while after.
    await waitFor('the old pods to be gone', async () => (await podNames()).every((n) => !before.includes(n)), { timeoutMs: 120_000, intervalMs: 1000 });
    await new Promise((r) => setTimeout(r, 5000));
    await iarnet.stop();
    podLogs.stop();
    if (iarnet.failures().length > 0) process.stderr.write(`[in-cluster-rollout] the replicas' own account:\n${podLogs.telling().join('\n')}\n`);

    const after = await podNames();
    expect(after).toHaveLength(2);
    expect(after.filter((n) => before.includes(n))).toEqual([]);
    const holderAfter = (await coordination.readNamespacedLease({ name: 'k8s-provider-leader', namespace: WORKLOADS })).spec?.holderIdentity;
    expect(after).toContain(holderAfter);

    const calls = iarnet.calls;
    const slowest = (m: string): number => Math.max(...calls.filter((c) => c.method === m).map((c) => c.ms));
    process.stderr.write(
      `[in-cluster-rollout] rollout restart took ${(rolloutMs / 1000).toFixed(1)} s; ` +
        `${iarnet.count('HealthCheck')} HealthChecks (slowest ${slowest('HealthCheck')} ms), ${iarnet.count('GetAvailable')} GetAvailable ` +
        `(slowest ${slowest('GetAvailable')} ms), ${iarnet.count('Deploy')} Deploys (slowest ${slowest('Deploy')} ms); failed: ${iarnet.failures().length}\n`,
    );
    expect(iarnet.failures()).toEqual([]);
    expect(iarnet.count('HealthCheck')).toBeGreaterThan(10);
    expect(iarnet.count('GetAvailable')).toBeGreaterThan(10);
    expect(iarnet.count('Deploy')).toBeGreaterThan(5);

    // Every Deploy that succeeded made exactly one pod.
    const pods = (await core.listNamespacedPod({ namespace: WORKLOADS, labelSelector: LABEL_INSTANCE_ID })).items;
    const ids = pods.map((p) => p.metadata!.labels![LABEL_INSTANCE_ID]!);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of calls.filter((x) => x.method === 'Deploy')) expect(ids).toContain(c.instanceId);

    // The session carried over: the new replicas answer the same provider id without a new Connect.
    const last = makeClientAt(address);
    try {
      await expect(call(last, 'HealthCheck', { providerId: PROVIDER })).resolves.toBeDefined();
      expect(await call(last, 'Connect', { providerId: 'another-control-plane' })).toMatchObject({ success: false });
    } finally {
      last.close();
    }
  }, 600_000);
});

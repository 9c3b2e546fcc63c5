/**
 * The test cluster's opt-in real node (CLUSTER_REAL_NODE=1, see
 * test/cluster/node.sh): a kubelet with containerd next to the KWOK fakes.
 * Workloads that must really run carry its toleration and node selector.
 *
 * Tests that need it call realNode() at load time and use
 * `describe.skipIf(!node.available)`: without the node they are skipped with
 * the printed reason; with CLUSTER_REAL_NODE=1 (CI) a missing node fails them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { makeKubeConfig } from './cluster.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const REAL_NODE_NAME = 'k8s-provider-real-node';
/** The node's containerd (for importing images); cluster.sh keeps its state in CLUSTER_STATE_DIR (default .cluster). */
export const REAL_NODE_CONTAINERD_SOCKET = path.join(
  path.resolve(repoRoot, process.env.CLUSTER_STATE_DIR ?? '.cluster'),
  'node',
  'containerd',
  'containerd.sock',
);
/** Label and NoSchedule taint key of the real node (value "true"). */
export const REAL_NODE_KEY = 'k8s-provider.test/real-node';
export const REAL_NODE_SELECTOR: Readonly<Record<string, string>> = { [REAL_NODE_KEY]: 'true' };
export const REAL_NODE_TOLERATION = { key: REAL_NODE_KEY, operator: 'Equal', value: 'true', effect: 'NoSchedule' } as const;

export type RealNode = { available: true; name: string; workloadImage: string } | { available: false; reason: string };

/**
 * The locally built workload image (busybox with exit-with, log-lines,
 * hog-memory, hold-memory), imported into the node when it changed since
 * the node started.
 */
export function workloadImage(): string {
  return execFileSync('bash', [path.join(repoRoot, 'test', 'cluster', 'images.sh'), 'workload', REAL_NODE_CONTAINERD_SOCKET], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Whether the real node is there and Ready; prints why not when it is not. */
export async function realNode(suite: string): Promise<RealNode> {
  const required = process.env.CLUSTER_REAL_NODE === '1';
  let reason: string | undefined;
  try {
    const node = await makeKubeConfig().makeApiClient(CoreV1Api).readNode({ name: REAL_NODE_NAME });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (!ready) reason = `node ${REAL_NODE_NAME} is not Ready`;
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
    reason = `no node ${REAL_NODE_NAME} in the cluster (start it with CLUSTER_REAL_NODE=1 npm run cluster:up; needs root)`;
  }
  if (reason) {
    if (required) throw new Error(`CLUSTER_REAL_NODE=1 but ${reason}`);
    process.stderr.write(`[${suite}] skipped: ${reason}\n`);
    return { available: false, reason };
  }
  return { available: true, name: REAL_NODE_NAME, workloadImage: workloadImage() };
}

/**
 * The bench's side of the test cluster: a namespace of its own, managed pods
 * made in bulk (bound to a KWOK node, so the scheduler's 110-pods-per-node
 * limit and its latency stay out of the figures), and a gRPC client.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadProto } from '../../dist/src/adapters/grpc/proto.js';
import { ANNOTATION_INSTANCE_ID, LABEL_INSTANCE_ID, LABEL_MANAGED } from '../../dist/src/shared/labels.js';
import { ROOT, pool, sleep } from './util.mjs';

/** A held pod's requests: the books must read exactly n times these. */
export const HELD_CPU_MILLI = 10;
export const HELD_MEMORY = 1024 * 1024;

export function kubeconfigPath() {
  const p = process.env.TEST_KUBECONFIG ?? join(ROOT, process.env.CLUSTER_STATE_DIR ?? '.cluster', 'kubeconfig');
  if (!existsSync(p))
    throw new Error(`kubeconfig ${p} does not exist: run "npm run cluster:up" (with CLUSTER_BIN/CLUSTER_PORT_OFFSET as for the tests) or set TEST_KUBECONFIG`);
  return p;
}

export function kube() {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/** @param {CoreV1Api} core */
export async function createNamespace(core) {
  const name = `bench-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'k8s-provider.test/namespace': 'true' } } } });
  for (let i = 0; i < 150; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return name;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`namespace ${name}: no default ServiceAccount after 30 s`);
}

/** @param {CoreV1Api} core @returns {Promise<string>} */
export async function kwokNode(core) {
  const nodes = await core.listNode({});
  // A KWOK node (never the opt-in real node, whose kubelet would refuse 10k pods) without GPUs.
  const fake = nodes.items.filter((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake');
  const node = fake.find((n) => !n.metadata?.name?.includes('gpu')) ?? fake[0];
  if (!node?.metadata?.name) throw new Error('the test cluster has no KWOK nodes');
  return node.metadata.name;
}

/** @param {number} i @param {string} node @returns {import('@kubernetes/client-node').V1Pod} */
function heldPod(i, node) {
  const id = `held-${i}`;
  return {
    metadata: { name: id, labels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: id, 'bench/set': 'held' }, annotations: { [ANNOTATION_INSTANCE_ID]: id } },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'iarnet/component', resources: { requests: { cpu: `${HELD_CPU_MILLI}m`, memory: String(HELD_MEMORY) } } }],
    },
  };
}

/** Creates held pods from..to-1 (32 at a time). @param {CoreV1Api} core @param {string} namespace @param {string} node @param {number} from @param {number} to */
export async function createHeldPods(core, namespace, node, from, to) {
  const ids = Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
  await pool(ids, 32, async (i) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await core.createNamespacedPod({ namespace, body: heldPod(i, node) });
      } catch (err) {
        if (/** @type {{code?: number}} */ (err).code === 409) return undefined;
        if (attempt >= 5) throw err;
        await sleep(200 * (attempt + 1));
      }
    }
  });
}

/**
 * Waits until no pod in `namespace` is short of Running: after a bulk create
 * the fake nodes still write every pod's status, and a restart measured
 * during that storm would time the API server's backlog, not the daemon.
 * @param {CoreV1Api} core @param {string} namespace @returns {Promise<number>} ms waited
 */
export async function untilAllRunning(core, namespace) {
  const t0 = performance.now();
  for (let i = 0; i < 1200; i++) {
    const left = await core.listNamespacedPod({ namespace, fieldSelector: 'status.phase!=Running', limit: 1 });
    if (left.items.length === 0) return performance.now() - t0;
    await sleep(250);
  }
  throw new Error(`pods in ${namespace} still not Running after 300 s`);
}

/** Deletes the pods matching `selector` at once and waits until they are gone. @param {CoreV1Api} core @param {string} namespace @param {string} selector */
export async function deletePods(core, namespace, selector) {
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 });
  for (let i = 0; i < 600; i++) {
    const left = await core.listNamespacedPod({ namespace, labelSelector: selector, limit: 1 });
    if (left.items.length === 0) return;
    await sleep(250);
  }
  throw new Error(`pods ${selector} in ${namespace} still there after 150 s`);
}

/** @typedef {Record<string, (req: object, opts: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void> & { close(): void }} Client */

/** A client that retries the connection quickly: the restart figure must not include grpc-js's reconnect backoff. @param {number} port @returns {Client} */
export function client(port) {
  const { grpcObject } = loadProto();
  return /** @type {Client} */ (
    /** @type {unknown} */ (
      new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 20,
        'grpc.max_reconnect_backoff_ms': 50,
      })
    )
  );
}

/** @param {Client} c @param {string} method @param {object} req @returns {Promise<any>} */
export function unary(c, method, req, deadlineMs = 5000) {
  return new Promise((resolve, reject) => {
    const fn = c[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(c, req, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

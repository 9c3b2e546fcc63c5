/**
 * How the daemon's API clients talk to the API server, seen from a TLS proxy
 * in front of the test cluster's kube-apiserver (test/helpers/api-proxy.ts),
 * which counts the connections opened and records every request:
 *
 * - requests share keep-alive connections (client-node alone opens a new
 *   TLS connection for each);
 * - `kubernetes.response_compression: auto` asks a loopback server for no
 *   compression, `on` asks for gzip and the answer still decodes;
 * - the informers list in pages of `kubernetes.list_page_size`, reading each
 *   next page's token from the envelope the API server writes, and the books
 *   are exact across all pages.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiProxy } from '../helpers/api-proxy.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { createTestNamespace, isLocalCluster, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { makeClients } from '../../src/adapters/kube/client.js';
import { continueInEnvelope } from '../../src/adapters/kube/slim-list.js';
import { ANNOTATION_INSTANCE_ID, LABEL_INSTANCE_ID, LABEL_MANAGED } from '../../src/shared/labels.js';

const PODS = 23;
const PAGE = 5;
const CPU_MILLI = 10;
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);

/** A managed pod bound straight to a KWOK node: no scheduler, no container, it only holds its requests. */
const heldPod = (i: number, node: string): V1Pod => ({
  metadata: {
    name: `held-${i}`,
    labels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: `held-${i}` },
    annotations: { [ANNOTATION_INSTANCE_ID]: `held-${i}` },
  },
  spec: {
    nodeName: node,
    restartPolicy: 'Never',
    tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
    containers: [{ name: 'main', image: 'iarnet/component', resources: { requests: { cpu: `${CPU_MILLI}m`, memory: '1Mi' } } }],
  },
});

/** One page of the pod list as the API server writes it, straight from the server with the admin's credentials. */
async function rawPage(namespace: string, cont?: string): Promise<string> {
  const cluster = kc.getCurrentCluster()!;
  const opts: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(`${cluster.server}/api/v1/namespaces/${namespace}/pods`);
  url.searchParams.set('labelSelector', `${LABEL_MANAGED}=true`);
  url.searchParams.set('limit', String(PAGE));
  if (cont) url.searchParams.set('continue', cont);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, headers: { 'user-agent': 'k8s-provider-test', 'accept-encoding': 'identity' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.runIf(isLocalCluster())('how the daemon talks to the API server', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  let proxy: ApiProxy;
  let d: TestDaemon | undefined;

  beforeAll(async () => {
    ns = await createTestNamespace('api-conn');
    pki = makePki();
    proxy = new ApiProxy(kc, pki);
    await proxy.start();
    const nodes = (await core.listNode({})).items.filter((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake');
    const node = nodes.find((n) => !n.metadata?.name?.includes('gpu'))?.metadata?.name;
    if (!node) throw new Error('the test cluster has no KWOK node');
    for (let i = 0; i < PODS; i++) await core.createNamespacedPod({ namespace: ns.name, body: heldPod(i, node) });
  });
  afterAll(async () => {
    await d?.stop();
    await proxy?.stop();
    pki?.cleanup();
    await ns?.cleanup();
  });

  it('sends its requests over one kept-alive connection, and asks a loopback server for no compression', async () => {
    const kube = makeClients({ kubeconfig: proxy.kubeconfig(), inCluster: false });
    expect(kube.compression).toBe(false);
    const opened = proxy.connections;
    const seen = proxy.requests.length;
    for (let i = 0; i < 10; i++) {
      await kube.core.listNamespacedPod({ namespace: ns.name, limit: 2 });
      await kube.batch.listNamespacedJob({ namespace: ns.name });
      await kube.coordination.listNamespacedLease({ namespace: ns.name });
    }
    const sent = proxy.requests.slice(seen);
    expect(sent).toHaveLength(30);
    // Each call one after the other: one connection carries them all.
    expect(proxy.connections - opened).toBe(1);
    expect(new Set(sent.map((r) => r.acceptEncoding))).toEqual(new Set(['identity']));
  });

  it('opens a new connection when the client certificate changes on disk, and keeps using it', async () => {
    // A kubeconfig naming certificate files: client-node reads them for every request.
    const cert = join(pki.dir, 'rotating.crt');
    const key = join(pki.dir, 'rotating.key');
    copyFileSync(pki.clientCert, cert);
    copyFileSync(pki.clientKey, key);
    const config = JSON.parse(readFileSync(proxy.kubeconfig(), 'utf8')) as { users: Array<{ user: Record<string, string> }> };
    config.users[0]!.user = { 'client-certificate': cert, 'client-key': key };
    const path = join(pki.dir, 'rotating.kubeconfig');
    writeFileSync(path, JSON.stringify(config));
    const kube = makeClients({ kubeconfig: path, inCluster: false });
    const lists = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) await kube.core.listNamespacedPod({ namespace: ns.name, limit: 1 });
    };
    const opened = proxy.connections;
    await lists();
    expect(proxy.connections - opened).toBe(1);
    copyFileSync(pki.otherClientCert, cert);
    copyFileSync(pki.otherClientKey, key);
    await lists();
    expect(proxy.connections - opened).toBe(2);
  });

  it('asks for gzip with response_compression "on", and reads the compressed answer', async () => {
    const kube = makeClients({ kubeconfig: proxy.kubeconfig(), inCluster: false, responseCompression: 'on' });
    expect(kube.compression).toBe(true);
    const seen = proxy.requests.length;
    const list = await kube.core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_MANAGED}=true` });
    expect(list.items).toHaveLength(PODS);
    expect(proxy.requests.slice(seen).map((r) => r.acceptEncoding)).toEqual([expect.stringMatching(/gzip/)]);
  });

  it("reads each page's continue token from the envelope exactly as the API server writes it", async () => {
    let cont: string | undefined;
    let pages = 0;
    do {
      const text = await rawPage(ns.name, cont);
      const parsed = JSON.parse(text) as { metadata: { continue?: string }; items: unknown[] };
      expect(continueInEnvelope(text)).toBe(parsed.metadata.continue || undefined);
      cont = parsed.metadata.continue || undefined;
      pages++;
    } while (cont);
    expect(pages).toBe(Math.ceil(PODS / PAGE));
  });

  it('lists its pods in pages of list_page_size on start, and its books hold every page', async () => {
    const seen = proxy.requests.length;
    d = await startTestDaemon(ns.name, { kubernetes: { kubeconfig: proxy.kubeconfig(), list_page_size: PAGE } });
    await call(d.client, 'Connect', { providerId: 'api-conn-cp' });
    const used = async (): Promise<number> =>
      Number((await call<{ capacity: { used: { cpu: string } } }>(d!.client, 'GetCapacity', { providerId: 'api-conn-cp' })).capacity.used.cpu);
    await waitFor('the books to hold every held pod', async () => (await used()) === PODS * CPU_MILLI, { timeoutMs: 20_000 });
    const podLists = proxy.requests
      .slice(seen)
      .filter((r) => r.method === 'GET' && r.path.startsWith(`/api/v1/namespaces/${ns.name}/pods?`) && !/[?&]watch=/.test(r.path));
    expect(podLists).toHaveLength(Math.ceil(PODS / PAGE));
    expect(podLists.every((r) => r.path.includes(`limit=${PAGE}`))).toBe(true);
    expect(podLists.slice(1).every((r) => r.path.includes('continue='))).toBe(true);
    expect(podLists.every((r) => r.status === 200)).toBe(true);
  });
});

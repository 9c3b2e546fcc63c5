import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from '../../../test/helpers/certs.js';
import { PooledKubeConfig, sameConnectionOptions } from './pooled-config.js';

/** An HTTPS server answering every request with an empty pod list, counting the TLS connections it accepted. */
describe('PooledKubeConfig', () => {
  let pki: TestPki;
  let server: https.Server;
  let connections = 0;

  beforeAll(async () => {
    pki = makePki();
    server = https.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [] }));
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    pki.cleanup();
  });

  const load = (kc: KubeConfig, clientCert = pki.clientCert): KubeConfig => {
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile: pki.caCert }],
      users: [{ name: 'u', certFile: clientCert, keyFile: pki.clientKey }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const listFive = async (kc: KubeConfig): Promise<number> => {
    const before = connections;
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 5; i++) expect((await core.listNamespacedPod({ namespace: 'ns' })).items).toEqual([]);
    return connections - before;
  };

  it('makes five API calls over one TLS connection, where client-node alone opens five', async () => {
    expect(await listFive(load(new KubeConfig()))).toBe(5);
    expect(await listFive(load(new PooledKubeConfig()))).toBe(1);
  });

  it('gives watches, logs and the pod proxy (applyToHTTPSOptions) the same agent as the API clients', async () => {
    const kc = load(new PooledKubeConfig());
    await listFive(kc);
    const a: https.RequestOptions = {};
    const b: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(a);
    await kc.applyToHTTPSOptions(b);
    expect(a.agent).toBeInstanceOf(https.Agent);
    expect(a.agent).toBe(b.agent);
    expect((a.agent as https.Agent & { keepAlive: boolean }).keepAlive).toBe(true);
  });

  it('takes a new agent when the TLS material changes (a rotated certificate)', async () => {
    const kc = load(new PooledKubeConfig());
    const first: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(first);
    load(kc, pki.replicaCert);
    const second: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(second);
    expect(second.agent).not.toBe(first.agent);
  });

  it('compares options by content, ignoring what the agent adds', () => {
    expect(sameConnectionOptions({ ca: Buffer.from('a'), keepAlive: true, path: null }, { ca: Buffer.from('a'), noDelay: true })).toBe(true);
    expect(sameConnectionOptions({ ca: Buffer.from('a') }, { ca: Buffer.from('b') })).toBe(false);
    expect(sameConnectionOptions({ servername: 'x' }, {})).toBe(false);
  });
});

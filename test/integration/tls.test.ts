/**
 * Issue 6: server.tls from config. TLS alone authenticates the daemon; with
 * client_ca_file it is mutual and only clients holding a certificate from
 * that CA get in. Certificates are made by the test (openssl).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, type TestNamespace } from '../helpers/cluster.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { call, makeClient, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';

describe('TLS and mutual TLS', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  const read = (path: string): Buffer => readFileSync(path);

  beforeAll(async () => {
    buildCli();
    pki = makePki();
    ns = await createTestNamespace('tls');
  });
  afterAll(async () => {
    await ns?.cleanup();
    pki?.cleanup();
  });

  /** GetCapacity needs no session, so it shows whether the channel itself got through. */
  async function attempt(port: number, creds: grpc.ChannelCredentials): Promise<string> {
    const client = makeClient(port, creds);
    try {
      return await statusOf(call(client, 'GetCapacity', { providerId: '' }));
    } finally {
      client.close();
    }
  }

  describe('server certificate only', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon(ns.name, { server: { tls: { cert_file: pki.serverCert, key_file: pki.serverKey } } });
    });
    afterAll(async () => {
      await d?.stop();
    });

    it('serves clients that trust its CA', async () => {
      expect(await attempt(d.daemon.port, grpc.credentials.createSsl(read(pki.caCert)))).toBe('OK');
      expect(d.logs.find((l) => l.msg === 'grpc server listening')).toMatchObject({ tls: true });
    });

    it('refuses plaintext clients and clients that trust another CA', async () => {
      expect(await attempt(d.daemon.port, grpc.credentials.createInsecure())).toMatch(/^UNAVAILABLE: /);
      expect(await attempt(d.daemon.port, grpc.credentials.createSsl(read(pki.otherCaCert)))).toMatch(/^UNAVAILABLE: /);
    });
  });

  describe('mutual TLS (client_ca_file)', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon(ns.name, {
        server: { tls: { cert_file: pki.serverCert, key_file: pki.serverKey, client_ca_file: pki.caCert } },
      });
    });
    afterAll(async () => {
      await d?.stop();
    });

    it('accepts a client certificate signed by the configured CA', async () => {
      const creds = grpc.credentials.createSsl(read(pki.caCert), read(pki.clientKey), read(pki.clientCert));
      expect(await attempt(d.daemon.port, creds)).toBe('OK');
    });

    it('rejects a client without a certificate, or with one from another CA', async () => {
      expect(await attempt(d.daemon.port, grpc.credentials.createSsl(read(pki.caCert)))).toMatch(/^UNAVAILABLE: /);
      const intruder = grpc.credentials.createSsl(read(pki.caCert), read(pki.otherClientKey), read(pki.otherClientCert));
      expect(await attempt(d.daemon.port, intruder)).toMatch(/^UNAVAILABLE: /);
    });

    it('the CLI speaks mutual TLS with --tls-ca/--tls-cert/--tls-key', async () => {
      const addr = `localhost:${d.daemon.port}`;
      const ok = await runCli(['capacity', '--json', '--addr', addr, '--tls-ca', pki.caCert, '--tls-cert', pki.clientCert, '--tls-key', pki.clientKey]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ total: { cpu: 8000, memory: 8 * 2 ** 30, gpu: 4 } });

      const probe = await runCli(['probe', '--addr', addr, '--tls-ca', pki.caCert, '--tls-cert', pki.clientCert, '--tls-key', pki.clientKey]);
      expect([probe.code, probe.stdout]).toEqual([0, 'SERVING\n']);

      const noCert = await runCli(['capacity', '--addr', addr, '--tls-ca', pki.caCert, '--deadline', '5']);
      expect(noCert.code).toBe(1);
      expect(noCert.stderr).toMatch(/^k8s-provider-cli: capacity: UNAVAILABLE: /);

      // 127.0.0.1 is in the certificate too; a name it does not hold needs --tls-server-name.
      const renamed = await runCli([
        'capacity',
        '--addr',
        `127.0.0.1:${d.daemon.port}`,
        '--tls-ca',
        pki.caCert,
        '--tls-cert',
        pki.clientCert,
        '--tls-key',
        pki.clientKey,
        '--tls-server-name',
        'localhost',
      ]);
      expect(renamed.code).toBe(0);
    });
  });
});

/**
 * Throw-away PKI for TLS tests, made with the openssl CLI: a CA, a server
 * certificate for 127.0.0.1/localhost, a client certificate, a replica
 * certificate good for both (what a replica presents when it forwards a call
 * to the other under mutual TLS), and a second, unrelated CA with its own
 * client certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** serverAuth and clientAuth, for 127.0.0.1/localhost. */
  readonly replicaCert: string;
  readonly replicaKey: string;
  readonly otherCaCert: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
  cleanup(): void;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-pki-'));
  const p = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  const ca = (name: string): void =>
    openssl(
      'req',
      '-x509',
      ...key,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.crt`),
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
  const leaf = (name: string, caName: string, ext: string): void => {
    writeFileSync(p(`${name}.ext`), ext);
    openssl('req', ...key, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${name}`);
    openssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p(`${caName}.crt`),
      '-CAkey',
      p(`${caName}.key`),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      p(`${name}.ext`),
    );
  };

  ca('test-ca');
  ca('other-ca');
  leaf('server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('control-plane', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('replica', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  leaf('intruder', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    caCert: p('test-ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('control-plane.crt'),
    clientKey: p('control-plane.key'),
    replicaCert: p('replica.crt'),
    replicaKey: p('replica.key'),
    otherCaCert: p('other-ca.crt'),
    otherClientCert: p('intruder.crt'),
    otherClientKey: p('intruder.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeHttpProxy } from './pod-proxy.js';

function proxyAt(server: string): KubeHttpProxy {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: false }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new KubeHttpProxy(kc, { namespace: 'work' });
}

describe('KubeHttpProxy.url', () => {
  it('puts the path under the pod proxy of the port, keeping the query', () => {
    expect(proxyAt('https://api:6443').url('web-1', 8080, '/a/b?c=d').href).toBe('https://api:6443/api/v1/namespaces/work/pods/web-1:8080/proxy/a/b?c=d');
    expect(proxyAt('https://api:6443/prefix/').url('web-1', 80, '/').pathname).toBe('/prefix/api/v1/namespaces/work/pods/web-1:80/proxy/');
  });

  it('refuses a path that normalises out of the proxy prefix (a second guard behind validation)', () => {
    expect(() => proxyAt('https://api:6443').url('web-1', 80, '/../../../secrets')).toThrow("leaves the instance's proxy path");
  });
});

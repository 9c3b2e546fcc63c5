import { Agent as HttpAgent } from 'node:http';
import { Agent, type RequestOptions } from 'node:https';
import { describe, expect, it } from 'vitest';
import { PooledKubeConfig, wantsCompression } from './http.js';

describe('wantsCompression', () => {
  it('auto: not on loopback or the in-cluster Service address, where it only costs CPU', () => {
    for (const server of ['https://127.0.0.1:6443', 'https://127.5.0.1', 'https://localhost:6443', 'https://[::1]:6443']) {
      expect(wantsCompression('auto', server, undefined), server).toBe(false);
    }
    expect(wantsCompression('auto', 'https://10.96.0.1:443', '10.96.0.1')).toBe(false);
  });

  it('auto: yes for any other server, which may sit behind a slow link', () => {
    for (const server of ['https://10.96.0.1:443', 'https://api.example.com:6443', 'https://[2001:db8::1]:6443', 'not a url']) {
      expect(wantsCompression('auto', server, '10.0.0.9'), server).toBe(true);
    }
  });

  it('on and off are what they say, wherever the server is', () => {
    expect(wantsCompression('on', 'https://127.0.0.1:6443')).toBe(true);
    expect(wantsCompression('off', 'https://api.example.com')).toBe(false);
  });
});

describe('AgentPool and PooledKubeConfig', () => {
  const kubeconfig = (cert: string): PooledKubeConfig => {
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64') }],
      users: [{ name: 'u', certData: Buffer.from(cert).toString('base64'), keyData: Buffer.from('key').toString('base64') }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };
  const agentOf = async (kc: PooledKubeConfig): Promise<unknown> => {
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    return opts.agent;
  };

  it('gives every watch, log and pod-proxy request the same keep-alive agent', async () => {
    const kc = kubeconfig('cert');
    const first = await agentOf(kc);
    expect(first).toBeInstanceOf(Agent);
    expect((first as Agent & { keepAlive: boolean }).keepAlive).toBe(true);
    expect(await agentOf(kc)).toBe(first);
  });

  it('shares it with the API clients: the agent the library swaps in is the same', async () => {
    const kc = kubeconfig('cert');
    const watches = await agentOf(kc);
    expect(kc.agents.swap(new Agent({ ca: Buffer.from('ca'), cert: Buffer.from('cert'), key: Buffer.from('key') }))).toBe(watches);
  });

  it('takes a new agent when the client certificate changes, and leaves other agents alone', async () => {
    const kc = kubeconfig('cert');
    const first = await agentOf(kc);
    kc.loadFromOptions({
      ...JSON.parse(kc.exportConfig()),
      users: [{ name: 'u', certData: Buffer.from('rotated').toString('base64'), keyData: Buffer.from('key').toString('base64') }],
    });
    expect(await agentOf(kc)).not.toBe(first);
    const plain = new HttpAgent();
    expect(kc.agents.swap(plain)).toBe(plain);
  });
});

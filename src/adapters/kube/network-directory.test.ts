import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isolationState, serviceState } from './network-directory.js';

describe('serviceState', () => {
  it('reads name, DNS name, cluster IP, ports and node ports off a Service', () => {
    expect(
      serviceState(
        {
          metadata: { name: 'web', namespace: 'work' },
          spec: {
            type: 'NodePort',
            clusterIP: '10.96.0.7',
            ports: [
              { name: 'http', port: 8080, protocol: 'TCP', nodePort: 30080 },
              { port: 53, protocol: 'UDP' },
            ],
          },
        },
        'other',
      ),
    ).toEqual({
      serviceName: 'web',
      dnsName: 'web.work.svc',
      clusterIp: '10.96.0.7',
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP', nodePort: 30080 },
        { name: '', port: 53, protocol: 'UDP', nodePort: 0 },
      ],
      expose: 'NodePort',
    });
  });

  it('knows nothing of Service types the daemon does not make', () => {
    expect(serviceState({ metadata: { name: 'x' }, spec: { type: 'LoadBalancer' } }, 'work')).toBeUndefined();
  });
});

describe('isolationState', () => {
  it('reads every ingress source and the peer group off the NetworkPolicy the daemon made', () => {
    const own = { team: 'a', 'iarnet.managed': 'true', 'iarnet.instance_id': 'web' };
    expect(
      isolationState({
        spec: {
          podSelector: { matchLabels: own },
          ingress: [
            {
              _from: [
                { ipBlock: { cidr: '10.20.0.0/16' } },
                { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
                { podSelector: { matchLabels: { team: 'a', 'iarnet.managed': 'true', app: 'shop' } } },
              ],
            },
          ],
        },
      }),
    ).toEqual({ ingressFrom: ['10.20.0.0/16', 'namespace monitoring', 'pods app=shop'], peerGroup: 'app=shop' });
  });

  it('reads the policy as the watch delivers it too (plain JSON: `from`, not `_from`)', () => {
    const fromWatch = { spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] } } as unknown as V1NetworkPolicy;
    expect(isolationState(fromWatch).ingressFrom).toEqual(['10.0.0.0/8']);
  });

  it('is empty for a policy that lets nothing in', () => {
    expect(isolationState({ spec: { podSelector: { matchLabels: { 'iarnet.instance_id': 'x' } }, policyTypes: ['Ingress'] } })).toEqual({
      ingressFrom: [],
      peerGroup: '',
    });
  });
});

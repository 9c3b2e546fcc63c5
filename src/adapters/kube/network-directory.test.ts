import { describe, expect, it } from 'vitest';
import { serviceState } from './network-directory.js';

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

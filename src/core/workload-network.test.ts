import { describe, expect, it } from 'vitest';
import { labelKeyProblem, validateDeploy, type WorkloadInput } from './deploy-spec.js';
import { validateNetwork, type NetworkDefaults } from './workload-network.js';

const closed: NetworkDefaults = { isolate: true, allowOptOut: false, peerLabel: '' };
const port = [{ containerPort: 80, protocol: 'TCP' }];
const check = (input: Parameters<typeof validateNetwork>[0], ports = port, labels: Record<string, string> = {}, defaults = closed) => {
  const problems: string[] = [];
  const network = validateNetwork(input, ports, labels, defaults, problems, labelKeyProblem);
  return { network, problems };
};

describe('validateNetwork', () => {
  it('exposes declared ports as ClusterIP and isolates by default; nothing to expose without ports', () => {
    expect(check({})).toEqual({ network: { expose: 'ClusterIP', isolate: true, peers: undefined }, problems: [] });
    expect(check({}, []).network.expose).toBe('None');
    expect(check({ expose: 'NodePort' }).network.expose).toBe('NodePort');
    expect(check({ expose: 'None' }).network.expose).toBe('None');
  });

  it('names each field it refuses', () => {
    expect(check({ expose: 'ClusterIP' }, []).problems).toEqual(['workload.expose CLUSTER_IP needs at least one of workload.ports']);
    expect(check({ isolate: false }).problems).toEqual(['workload.network.isolate: false is not allowed by this provider (network.allow_opt_out is off)']);
    expect(check({ peerLabel: 'app' }).problems).toEqual(['workload.network.peer_label "app" is not one of workload.labels']);
    expect(check({ peerLabel: '-bad-' }).problems[0]).toMatch(/^workload.network.peer_label "-bad-": name must be/);
  });

  it('takes the peers from the workload label the request or the config names; opting out needs the config', () => {
    expect(check({ peerLabel: 'app' }, port, { app: 'shop' }).network.peers).toEqual({ key: 'app', value: 'shop' });
    expect(check({}, port, { group: 'g1' }, { ...closed, peerLabel: 'group' }).network.peers).toEqual({ key: 'group', value: 'g1' });
    // The provider-wide label applies only to workloads that carry it.
    expect(check({}, port, {}, { ...closed, peerLabel: 'group' })).toEqual({ network: { expose: 'ClusterIP', isolate: true, peers: undefined }, problems: [] });
    expect(check({ isolate: false }, port, {}, { ...closed, allowOptOut: true }).network.isolate).toBe(false);
    expect(check({ isolate: true }, port, {}, { ...closed, isolate: false }).network.isolate).toBe(true);
  });
});

describe('network fields in validateDeploy', () => {
  const base = { instanceId: 'i', providerId: 'cp', image: 'busybox', resources: { cpu: 1, memory: 1, gpu: 0 }, env: {} };
  const defaults = { jobTimeoutSeconds: 60, jobCleanupPolicy: 'OnSuccess' as const };
  const hash = (workload?: WorkloadInput): string => validateDeploy({ ...base, workload }, defaults).specHash;

  it('leaves the spec hash of a request without them unchanged, and changes it when they are set', () => {
    expect(hash({ ports: [] })).toBe(hash({ ports: [], network: { isolate: undefined, peerLabel: '' } }));
    expect(hash({})).not.toBe(hash({ expose: 'None' }));
    expect(hash({})).not.toBe(hash({ network: { isolate: true } }));
  });

  it('reports network problems with the others, all at once', () => {
    expect(() => validateDeploy({ ...base, image: '', workload: { expose: 'NodePort' } }, defaults)).toThrow(
      'image is required; workload.expose NODE_PORT needs at least one of workload.ports',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { validateDeploy, type WorkloadInput } from '../../core/deploy-spec.js';
import { CLOSED_INGRESS, networkPolicyManifest, serviceManifest, type IsolationRules } from './service-manifests.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const ctx = { namespace: 'work', selectorLabels: { team: 'a' }, rules: CLOSED_INGRESS };
const owner = { kind: 'Pod' as const, name: 'web-1', uid: 'uid-1' };
const spec = (workload: WorkloadInput, network = { isolate: true, allowOptOut: true, peerLabel: '' }) =>
  validateDeploy(
    { instanceId: 'web-1', providerId: 'cp', image: 'busybox', resources: { cpu: 100, memory: 1 << 26, gpu: 0 }, env: {}, workload },
    { ...defaults, network },
  );
const meta = {
  name: 'web-1',
  namespace: 'work',
  labels: { app: 'shop', team: 'a', 'iarnet.managed': 'true', 'iarnet.provider_id': 'cp', 'iarnet.instance_id': 'web-1' },
  annotations: { 'iarnet.instance_id': 'web-1', 'iarnet.provider_id': 'cp' },
  ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: 'uid-1', controller: true, blockOwnerDeletion: false }],
};
const podSelector = { team: 'a', 'iarnet.managed': 'true', 'iarnet.instance_id': 'web-1' };

describe('serviceManifest', () => {
  it('builds a ClusterIP Service owned by the workload that selects the instance pod, one named port per container port', () => {
    const s = spec({
      labels: { app: 'shop' },
      ports: [
        { name: 'http', containerPort: 8080, protocol: '' },
        { name: '', containerPort: 53, protocol: 'udp' },
      ],
    });
    expect(serviceManifest(s, ctx, owner)).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: {
        type: 'ClusterIP',
        selector: podSelector,
        ports: [
          { name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' },
          { name: 'udp-53', port: 53, targetPort: 53, protocol: 'UDP' },
        ],
      },
    });
  });

  it('is NodePort when asked, absent without ports or with NOT_EXPOSED, and a Job owns it as batch/v1', () => {
    const ports = [{ name: '', containerPort: 80, protocol: '' }];
    expect(serviceManifest(spec({ ports, expose: 'NodePort' }), ctx, owner)?.spec?.type).toBe('NodePort');
    expect(serviceManifest(spec({}), ctx, owner)).toBeUndefined();
    expect(serviceManifest(spec({ ports, expose: 'None' }), ctx, owner)).toBeUndefined();
    const job = serviceManifest(spec({ ports, kind: 'Job' }), ctx, { kind: 'Job', name: 'web-1', uid: 'j' });
    expect(job?.metadata?.ownerReferences?.[0]).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job', uid: 'j' });
  });

  it('names a Deployment owner as apps/v1 on the Service and the NetworkPolicy, or the garbage collector never deletes them', () => {
    const s = spec({ ports: [{ name: '', containerPort: 80, protocol: '' }], kind: 'Deployment' });
    const owner = { kind: 'Deployment' as const, name: 'web-1', uid: 'd' };
    const expected = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web-1', uid: 'd', controller: true, blockOwnerDeletion: false }];
    expect(serviceManifest(s, ctx, owner)?.metadata?.ownerReferences).toEqual(expected);
    expect(networkPolicyManifest(s, ctx, owner)?.metadata?.ownerReferences).toEqual(expected);
  });
});

describe('networkPolicyManifest', () => {
  it('denies all ingress when no source is configured and the instance has no peers (no rule: an empty `from` would allow all)', () => {
    expect(networkPolicyManifest(spec({ labels: { app: 'shop' } }), ctx, owner)).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta,
      spec: { podSelector: { matchLabels: podSelector }, policyTypes: ['Ingress'], ingress: [] },
    });
  });

  it('lets in the configured CIDRs and namespaces and the peers sharing the label', () => {
    const rules: IsolationRules = { ...CLOSED_INGRESS, ingress: { from_cidrs: ['10.0.0.0/8'], from_namespaces: ['ingress'] } };
    const np = networkPolicyManifest(spec({ labels: { app: 'shop' }, network: { peerLabel: 'app' } }), { ...ctx, rules }, owner);
    expect(np?.spec?.ingress).toEqual([
      {
        _from: [
          { ipBlock: { cidr: '10.0.0.0/8' } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } },
          { podSelector: { matchLabels: { team: 'a', 'iarnet.managed': 'true', app: 'shop' } } },
        ],
      },
    ]);
  });

  it('closes egress when egress.allow_all is off: DNS, the configured CIDRs and the peers only', () => {
    const rules: IsolationRules = { ...CLOSED_INGRESS, egress: { allow_all: false, to_cidrs: ['192.168.0.0/16'], dns: true } };
    const np = networkPolicyManifest(spec({ labels: { app: 'shop' } }, { isolate: true, allowOptOut: false, peerLabel: 'app' }), { ...ctx, rules }, owner);
    expect(np?.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np?.spec?.egress).toEqual([
      {
        to: [{ namespaceSelector: {} }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      { to: [{ ipBlock: { cidr: '192.168.0.0/16' } }, { podSelector: { matchLabels: { team: 'a', 'iarnet.managed': 'true', app: 'shop' } } }] },
    ]);
    const none = networkPolicyManifest(spec({}), { ...ctx, rules: { ...CLOSED_INGRESS, egress: { allow_all: false, to_cidrs: [], dns: false } } }, owner);
    expect(none?.spec?.egress).toEqual([]);
  });

  it('is absent when the instance is not isolated', () => {
    expect(networkPolicyManifest(spec({ network: { isolate: false } }), ctx, owner)).toBeUndefined();
  });
});

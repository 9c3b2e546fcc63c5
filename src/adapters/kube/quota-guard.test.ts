import { describe, expect, it } from 'vitest';
import { hardOf, limitsOf, matches, quotaManifest } from './quota-guard.js';

const limits = { cpu: 4000, memory: 8 * 2 ** 30, gpu: 0, pods: 100 };

describe('the quota guard manifest', () => {
  it('limits requests of cpu, memory, the GPU resource and the pod count', () => {
    expect(quotaManifest('k8s-provider-quota', 'ns', limits)).toEqual({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'k8s-provider-quota', namespace: 'ns', labels: { 'app.kubernetes.io/managed-by': 'k8s-provider' } },
      spec: { hard: { 'requests.cpu': '4000m', 'requests.memory': String(8 * 2 ** 30), 'requests.nvidia.com/gpu': '0', pods: '100' } },
    });
    expect(hardOf({ cpu: 500 })).toEqual({ 'requests.cpu': '500m' });
  });

  it('limits what claims request with the storage budget, and never ephemeral-storage', () => {
    const hard = hardOf({ ...limits, storage: 20 * 2 ** 30 });
    expect(hard['requests.storage']).toBe(String(20 * 2 ** 30));
    expect(Object.keys(hard).some((k) => k.includes('ephemeral-storage'))).toBe(false);
    expect(limitsOf({ ...hard, 'requests.storage': '20Gi' })).toEqual({ ...limits, storage: 20 * 2 ** 30 });
    expect(matches(quotaManifest('q', 'ns', limits), { ...limits, storage: 1 })).toBe(false);
  });

  it('reads quantities back in any notation', () => {
    expect(limitsOf({ 'requests.cpu': '4', 'requests.memory': '8Gi', 'requests.nvidia.com/gpu': '0', pods: '100', services: '3' })).toEqual(limits);
    expect(limitsOf({ 'requests.cpu': 'junk' })).toEqual({});
  });

  it('matches the object only when it limits exactly that, for every pod, and is labelled as ours', () => {
    const ours = quotaManifest('q', 'ns', limits);
    expect(matches(ours, limits)).toBe(true);
    expect(matches({ ...ours, spec: { hard: { ...ours.spec?.hard, 'requests.cpu': '4' } } }, limits)).toBe(true);
    expect(matches({ ...ours, spec: { hard: { ...ours.spec?.hard, 'requests.cpu': '8' } } }, limits)).toBe(false);
    expect(matches({ ...ours, spec: { hard: { ...ours.spec?.hard, services: '1' } } }, limits)).toBe(false);
    expect(matches({ ...ours, spec: { ...ours.spec, scopes: ['BestEffort'] } }, limits)).toBe(false);
    expect(matches({ ...ours, metadata: { name: 'q' } }, limits)).toBe(false);
  });
});

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { QuotaGuardReport } from '../../core/quota-guard.js';
import { quotaGuardMetrics } from './quota-guard.js';

const report: QuotaGuardReport = {
  name: 'k8s-provider-quota',
  inForce: true,
  hard: { cpu: 2000, memory: 1024, gpu: 1 },
  used: { cpu: 1500, memory: 512, gpu: 0 },
  others: { cpu: 1000, memory: 0, gpu: 0 },
  hardPods: 6,
  usedPods: 2,
};

describe('quota guard metrics', () => {
  it('exports hard, used and others in base units, pods included, and in_force', async () => {
    const registry = new Registry();
    quotaGuardMetrics(registry, () => report);
    const text = await registry.metrics();
    expect(text).toContain('k8s_provider_quota_guard_hard{resource="cpu",unit="core"} 2');
    expect(text).toContain('k8s_provider_quota_guard_hard{resource="pods",unit="pod"} 6');
    expect(text).toContain('k8s_provider_quota_guard_used{resource="cpu",unit="core"} 1.5');
    expect(text).toContain('k8s_provider_quota_guard_used{resource="pods",unit="pod"} 2');
    expect(text).toContain('k8s_provider_quota_guard_others{resource="cpu",unit="core"} 1');
    expect(text).not.toContain('k8s_provider_quota_guard_others{resource="pods"');
    expect(text).toContain('k8s_provider_quota_guard_in_force{quota="k8s-provider-quota"} 1');
  });

  it('has no series while the guard is off', async () => {
    const registry = new Registry();
    quotaGuardMetrics(registry, () => undefined);
    expect((await registry.metrics()).split('\n').filter((l) => l.startsWith('k8s_provider_'))).toEqual([]);
  });
});

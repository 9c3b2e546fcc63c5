/**
 * Metrics of the quota guard (resource.enforce_with_resourcequota): the
 * ResourceQuota's hard values, what the API server counts under it, and what
 * pods outside the daemon's instances hold. Read at scrape time from the
 * books; no series while the guard is off.
 */
import { Gauge, type Registry } from 'prom-client';
import type { QuotaGuardReport } from '../../core/quota-guard.js';
import { RESOURCE_KEYS } from '../../core/resources.js';
import { PREFIX } from './exporter.js';

const UNITS = { cpu: { unit: 'core', per: 1000 }, memory: { unit: 'byte', per: 1 }, gpu: { unit: 'device', per: 1 } } as const;

export function quotaGuardMetrics(registry: Registry, report: () => QuotaGuardReport | undefined): void {
  const registers = [registry];
  const figures = (name: string, help: string, pick: (r: QuotaGuardReport) => QuotaGuardReport['hard'], pods?: (r: QuotaGuardReport) => number): void => {
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['resource', 'unit'],
      registers,
      collect() {
        this.reset();
        const r = report();
        if (!r) return;
        const values = pick(r);
        for (const resource of RESOURCE_KEYS) this.set({ resource, unit: UNITS[resource].unit }, values[resource] / UNITS[resource].per);
        if (pods) this.set({ resource: 'pods', unit: 'pod' }, pods(r));
      },
    });
  };
  figures(
    'quota_guard_hard',
    'spec.hard of the ResourceQuota the daemon keeps equal to its capacity (cpu in cores, memory in bytes, gpu in devices, pods).',
    (r) => r.hard,
    (r) => r.hardPods,
  );
  figures(
    'quota_guard_used',
    'status.used of that ResourceQuota: what every pod of the namespace holds, as the API server counts it.',
    (r) => r.used,
    (r) => r.usedPods,
  );
  figures('quota_guard_others', 'What pods outside the daemon’s instances hold in the namespace; subtracted from available.', (r) => r.others);
  new Gauge({
    name: `${PREFIX}quota_guard_in_force`,
    help: '1 while the API server shows the ResourceQuota (label quota) with the hard values the daemon wants, 0 while it is being put back; no series while the guard is off.',
    // Labelled, so that the guard off means no series (an unlabelled gauge always shows a value).
    labelNames: ['quota'],
    registers,
    collect() {
      this.reset();
      const r = report();
      if (r) this.set({ quota: r.name }, r.inForce ? 1 : 0);
    },
  });
}

/** Prometheus series of the instance lifecycle, registered on the daemon's own registry. */
import { Counter, type Registry } from 'prom-client';
import type { ReconcilerObserver } from '../../core/reconciler.js';
import { PREFIX } from './exporter.js';

export class InstanceMetrics implements ReconcilerObserver {
  private readonly stuck: Counter<'reason'>;

  constructor(registry: Registry) {
    this.stuck = new Counter({
      name: `${PREFIX}instances_stuck_total`,
      help: 'Instances found stuck (reported Failed, room released, deleted when instances.delete_stuck), by reason: Unschedulable, ImagePullBackOff, ErrImagePull, InvalidImageName, CreateContainerConfigError.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  instanceStuck(reason: string): void {
    this.stuck.inc({ reason });
  }
}

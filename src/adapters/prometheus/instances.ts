/** Prometheus series of the instance lifecycle, registered on the daemon's own registry. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReconcilerObserver } from '../../core/reconciler.js';
import { PREFIX } from './exporter.js';

export class InstanceMetrics implements ReconcilerObserver {
  private readonly stuck: Counter<'reason'>;
  private readonly resyncs: Counter;
  private watchers: () => number = () => 0;

  constructor(registry: Registry) {
    const registers = [registry];
    this.stuck = new Counter({
      name: `${PREFIX}instances_stuck_total`,
      help: 'Instances found stuck (reported Failed, room released, deleted when instances.delete_stuck), by reason: Unschedulable, ImagePullBackOff, ErrImagePull, InvalidImageName, CreateContainerConfigError.',
      labelNames: ['reason'],
      registers,
    });
    this.resyncs = new Counter({
      name: `${PREFIX}instance_watch_resyncs_total`,
      help: 'WatchInstances streams sent a RESYNC and a fresh snapshot because the client fell behind by instances.watch_buffer changes.',
      registers,
    });
    const read = (): number => this.watchers();
    new Gauge({
      name: `${PREFIX}instance_watchers`,
      help: 'Open WatchInstances streams (all fed by the one pod and one job informer).',
      registers,
      collect() {
        this.set(read());
      },
    });
  }

  /** Where the watcher count is read at scrape time (the watch hub exists once the core does). */
  watchersFrom(read: () => number): void {
    this.watchers = read;
  }

  instanceStuck(reason: string): void {
    this.stuck.inc({ reason });
  }

  watchResynced(): void {
    this.resyncs.inc();
  }
}

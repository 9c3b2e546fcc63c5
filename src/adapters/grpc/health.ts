/**
 * grpc.health.v1 for kubelet probes, load balancers and grpc_health_probe.
 * SERVING means the daemon can answer truthfully: the API server is
 * reachable and every informer has synced, so the books are current.
 */
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/ports.js';

/** '' is the whole server (what a probe without a service name asks about). */
export const OVERALL_HEALTH = '';

/**
 * SERVING whenever the process answers at all. A liveness probe must not
 * follow readiness: restarting the daemon does not bring back an API server
 * that is down, it only loses the watches and the session.
 */
export const LIVENESS_SERVICE = 'liveness';

/**
 * SERVING only on the active replica (the one that admits deploys). Both
 * replicas are SERVING for '' and provider.Service, because both answer
 * every RPC (the standby forwards deploys): routing needs no readiness flip
 * during a hand-over. This one tells operators and tools which is active.
 */
export const LEADER_SERVICE = 'leader';

export class HealthReporter {
  /** The overall entry plus one per registered service; all follow readiness together. */
  private readonly services: readonly string[];
  private readonly impl: HealthImplementation;
  private current: ServingStatus = 'NOT_SERVING';
  private leader: ServingStatus = 'NOT_SERVING';
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(
    private readonly ready: () => boolean,
    private readonly log: Logger,
    serviceNames: readonly string[],
    private readonly intervalMs = 1000,
    private readonly leading: () => boolean = () => false,
  ) {
    this.services = [OVERALL_HEALTH, ...serviceNames];
    this.impl = new HealthImplementation({
      ...Object.fromEntries(this.services.map((s) => [s, 'NOT_SERVING'])),
      [LIVENESS_SERVICE]: 'SERVING',
      [LEADER_SERVICE]: 'NOT_SERVING',
    });
  }

  addToServer(server: grpc.Server): void {
    this.impl.addToServer(server);
  }

  /**
   * Polls readiness: the informers flip it on their own errors and restarts,
   * and a poll every second is cheaper and simpler than subscribing to each.
   */
  start(): void {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  /** Shutting down: report NOT_SERVING from now on so traffic moves away while in-flight calls drain. */
  drain(): void {
    this.draining = true;
    if (this.timer) clearInterval(this.timer);
    this.set('NOT_SERVING');
    this.setLeader('NOT_SERVING');
  }

  status(): ServingStatus {
    return this.current;
  }

  refresh(): void {
    if (this.draining) return;
    this.set(this.ready() ? 'SERVING' : 'NOT_SERVING');
    this.setLeader(this.leading() ? 'SERVING' : 'NOT_SERVING');
  }

  private setLeader(next: ServingStatus): void {
    if (next === this.leader) return;
    this.leader = next;
    this.impl.setStatus(LEADER_SERVICE, next);
  }

  private set(next: ServingStatus): void {
    // setStatus pushes to every Watch stream; only changes are worth a push.
    if (next === this.current) return;
    this.log.info({ from: this.current, to: next }, 'health status changed');
    this.current = next;
    for (const service of this.services) this.impl.setStatus(service, next);
  }
}

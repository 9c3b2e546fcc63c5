/**
 * Metrics of the session store and leader election: which replica is
 * active, how often that changed, what the session costs in API writes, and
 * what the standby forwarded. States are read at scrape time; events are
 * counted as they happen.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { PREFIX } from './exporter.js';

export interface ContinuitySources {
  /** This replica is the active one. */
  leading(): boolean;
  /** spec.leaseTransitions of the leader Lease as last observed. */
  leaseTransitions(): number | undefined;
  sessionWrites(): { readonly writeThrough: number; readonly lastSeen: number; readonly failed: number };
}

export class ContinuityMetrics {
  private readonly transitions: Counter<'to'>;
  private readonly forwardedCalls: Counter<'method' | 'result'>;

  constructor(registry: Registry, sources: ContinuitySources) {
    const registers = [registry];
    new Gauge({
      name: `${PREFIX}leader`,
      help: '1 while this replica is the active one (holds the leader Lease and admits deploys), else 0.',
      registers,
      collect() {
        this.set(sources.leading() ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}leader_lease_transitions`,
      help: 'spec.leaseTransitions of the leader Lease: how often the active replica changed hands, as last observed.',
      registers,
      collect() {
        const n = sources.leaseTransitions();
        if (n !== undefined) this.set(n);
      },
    });
    this.transitions = new Counter({
      name: `${PREFIX}leader_transitions_total`,
      help: 'Times this replica became active (to="leader") or stopped being active (to="standby").',
      labelNames: ['to'],
      registers,
    });
    new Counter({
      name: `${PREFIX}session_writes_total`,
      help: 'Writes of the session Lease by this replica: kind="write_through" (Connect, Disconnect), "last_seen" (written behind HealthCheck), "failed".',
      labelNames: ['kind'],
      registers,
      collect() {
        const w = sources.sessionWrites();
        this.reset();
        this.inc({ kind: 'write_through' }, w.writeThrough);
        this.inc({ kind: 'last_seen' }, w.lastSeen);
        this.inc({ kind: 'failed' }, w.failed);
      },
    });
    this.forwardedCalls = new Counter({
      name: `${PREFIX}forwarded_calls_total`,
      help: 'Mutations (Deploy, Undeploy) this replica, as standby, routed to the active one, by gRPC method path: result="ok", "retried" (after a fail-over), "refused" (no active replica in time).',
      labelNames: ['method', 'result'],
      registers,
    });
  }

  leaderChanged(leading: boolean): void {
    this.transitions.inc({ to: leading ? 'leader' : 'standby' });
  }

  forwarded(method: string, result: 'ok' | 'retried' | 'refused'): void {
    this.forwardedCalls.inc({ method, result });
  }
}

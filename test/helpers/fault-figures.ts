/**
 * The fault figures of issue 14 (item 8), computed by the fault tests from
 * what they observe and appended as one JSON line per scenario to
 * test-results/fault-figures.jsonl; test/reporters/fault-figures.ts turns the
 * run's lines into the table printed at the end of `npm test`.
 *
 * A scenario's tally counts:
 * - faults injected, by kind (SIGKILL, outage, slow window, 429, ...);
 * - every call the scenario made to the daemon as the control plane would
 *   (the calls of once()/untilAnswered()/call() while the tally listens, or
 *   handed over by the test), and of the failed ones which were
 *   - retried to success: the same call (method and instance id) answered OK
 *     later. Never for HealthCheck: iarnet does not retry it, one failure
 *     marks the provider disconnected;
 *   - intended: the final answer the scenario asks for (RESOURCE_EXHAUSTED
 *     when full, UNAVAILABLE while the API server cannot be reached, ...);
 *   - failed for good: neither;
 * - instances lost: ids whose last answered Deploy succeeded (and that were
 *   not undeployed or removed on purpose since) that do not exist afterwards;
 * - duplicates: ids with more than one workload object;
 * - the daemon's peak RSS: VmHWM of each daemon process, read before it is
 *   signalled (a killed process has no /proc entry left to read), the max.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';

export const RESULTS_DIR = resolve(import.meta.dirname, '..', '..', 'test-results');
export const FIGURES_FILE = join(RESULTS_DIR, 'fault-figures.jsonl');

export interface FailedCalls {
  total: number;
  /** code name (OK excluded) -> count. */
  byCode: Record<string, number>;
  retried: number;
  intended: number;
  forGood: number;
}

export interface FaultRow {
  scenario: string;
  file: string;
  /** kind -> count. */
  faults: Record<string, number>;
  calls: number;
  failed: FailedCalls;
  /** null when the scenario did not get as far as the final check (its test failed). */
  instances: { expected: number; lost: number; duplicates: number } | null;
  peakRssMiB: number | null;
  /** How the peak RSS was taken, when not from separate daemon processes. */
  rssNote?: string;
  /** Figures particular to the scenario (latencies, ...), one short sentence each. */
  notes: string[];
  at: string;
  loadavg: number[];
}

/** VmHWM (peak resident set) of a live process in bytes; 0 when it is gone or unreadable. */
export function peakRssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

type Observer = (method: string, request: object | undefined, outcome: string) => void;
const observers = new Set<Observer>();

/** Called by the test clients (helpers/books.ts once(), helpers/daemon.ts call()) for every answered call. */
export function observeCall(method: string, request: object | undefined, outcome: string): void {
  for (const o of observers) o(method, request, outcome);
}

interface Call {
  readonly method: string;
  readonly key: string;
  readonly instanceId: string | undefined;
  readonly outcome: string;
}

const codeOf = (outcome: string): string => (outcome === 'OK' ? 'OK' : (/^([A-Z_]+)\b/.exec(outcome)?.[1] ?? 'OTHER'));

export class FaultTally {
  private readonly faults = new Map<string, number>();
  private readonly calls: Call[] = [];
  /** Calls counted by a client of its own (the load bench's), added as they are. */
  private readonly counted = { calls: 0, byCode: {} as Record<string, number>, retried: 0 };
  /** instance id -> whether the last answered call left it expected to exist. */
  private readonly expected = new Map<string, boolean>();
  private peak = 0;
  private instances: FaultRow['instances'] = null;
  private rssNote: string | undefined;
  private readonly notes: string[] = [];
  private readonly observer: Observer = (m, r, o) => this.call(m, r, o);

  constructor(
    readonly scenario: string,
    private readonly file: string,
    /** Which failed answers are the intended final answer of this scenario. */
    private readonly intended: (method: string, outcome: string, instanceId: string | undefined) => boolean = () => false,
  ) {}

  /** Counts the calls the test clients make from now until write(). */
  listen(): this {
    observers.add(this.observer);
    return this;
  }

  fault(kind: string, n = 1): void {
    if (n > 0) this.faults.set(kind, (this.faults.get(kind) ?? 0) + n);
  }

  call(method: string, request: object | undefined, outcome: string): void {
    const r = (request ?? {}) as { instanceId?: unknown; providerId?: unknown };
    const instanceId = typeof r.instanceId === 'string' ? r.instanceId : undefined;
    this.calls.push({ method, key: `${method}/${instanceId ?? ''}`, instanceId, outcome });
    if (outcome !== 'OK' || instanceId === undefined) return;
    if (method === 'Deploy') this.expected.set(instanceId, true);
    if (method === 'Undeploy') this.expected.set(instanceId, false);
  }

  /**
   * Calls a client counted itself: how many, the failed ones by code, and how
   * many of those were retried to success; the rest count as failed for good.
   */
  countedCalls(made: number, failedByCode: Record<string, number>, retried: number): void {
    this.counted.calls += made;
    for (const [code, n] of Object.entries(failedByCode)) this.counted.byCode[code] = (this.counted.byCode[code] ?? 0) + n;
    this.counted.retried += retried;
  }

  /** The final check when the test counted the instances itself. */
  settled(expected: number, lost: number, duplicates: number): void {
    this.instances = { expected, lost, duplicates };
  }

  /** Instances the scenario removed on purpose (deleted behind the daemon's back, cleaned up by policy). */
  removed(ids: Iterable<string>): void {
    for (const id of ids) this.expected.set(id, false);
  }

  /** Takes the max of the peak RSS (bytes) seen so far and this one. */
  rss(bytes: number, note?: string): void {
    this.peak = Math.max(this.peak, bytes);
    if (note) this.rssNote = note;
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /**
   * The final check against what the cluster holds: `workloads` maps each
   * instance id found to its workload objects. Returns the lost ids.
   */
  settle(workloads: ReadonlyMap<string, readonly unknown[]>): string[] {
    const lost = [...this.expected].filter(([id, want]) => want && !workloads.has(id)).map(([id]) => id);
    const duplicates = [...workloads.values()].filter((objects) => objects.length > 1).length;
    this.instances = { expected: [...this.expected.values()].filter(Boolean).length, lost: lost.length, duplicates };
    return lost;
  }

  row(): FaultRow {
    const okLater = new Set<string>();
    const countedFailed = Object.values(this.counted.byCode).reduce((a, b) => a + b, 0);
    const failed: FailedCalls = {
      total: countedFailed,
      byCode: { ...this.counted.byCode },
      retried: this.counted.retried,
      intended: 0,
      forGood: countedFailed - this.counted.retried,
    };
    // Walk backwards so "answered OK later" is known when a failure is met.
    for (let i = this.calls.length - 1; i >= 0; i--) {
      const c = this.calls[i]!;
      if (c.outcome === 'OK') {
        okLater.add(c.key);
        continue;
      }
      failed.total++;
      const code = codeOf(c.outcome);
      failed.byCode[code] = (failed.byCode[code] ?? 0) + 1;
      if (c.method !== 'HealthCheck' && okLater.has(c.key)) failed.retried++;
      else if (this.intended(c.method, c.outcome, c.instanceId)) failed.intended++;
      else failed.forGood++;
    }
    return {
      scenario: this.scenario,
      file: basename(this.file),
      faults: Object.fromEntries(this.faults),
      calls: this.calls.length + this.counted.calls,
      failed,
      instances: this.instances,
      peakRssMiB: this.peak > 0 ? Math.round((this.peak / 2 ** 20) * 10) / 10 : null,
      ...(this.rssNote ? { rssNote: this.rssNote } : {}),
      notes: this.notes,
      at: new Date().toISOString(),
      loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    };
  }

  /** Stops listening and appends the scenario's row. */
  write(): FaultRow {
    observers.delete(this.observer);
    const row = this.row();
    mkdirSync(RESULTS_DIR, { recursive: true });
    appendFileSync(FIGURES_FILE, `${JSON.stringify(row)}\n`);
    return row;
  }
}

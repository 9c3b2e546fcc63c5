/**
 * The instance API's use cases: read the instances (from the tracker, so no
 * API call), watch them, read their logs, and undeploy them. Same session
 * rules as the provider service: the caller must be the connected provider.
 */
import { failedPrecondition, invalidArgument, notFound, unavailable } from './errors.js';
import { noEvents, type EventRecorder } from './events.js';
import type { InstancePhase, InstanceStatus } from './instance-status.js';
import type { InstanceTracker } from './instance-tracker.js';
import type { InstanceWatchHub, Subscription, WatchStatsSnapshot } from './instance-watch.js';
import { MAIN_CONTAINER, type WorkloadKind } from './instances.js';
import type { Ledger } from './ledger.js';
import type { LogOptions, LogSource, Logger, Propagation, UsageSnapshot, UsageSource, WorkloadRef, WorkloadRuntime, WorkloadView } from './ports.js';
import type { Resources } from './resources.js';
import type { Session } from './session.js';
import { endpointOf, type InstanceEndpoint, type NetworkDirectory } from './workload-network.js';
import type { ScaleInput, ScaleResult } from './provider.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface InstanceView extends InstanceStatus {
  /** The latest usage sample of the instance, if the usage source has one. */
  readonly usage: { readonly resources: Resources; readonly sampledAt: number; readonly source: UsageSnapshot['source']; readonly stale: boolean } | undefined;
  /** Its Service with the pod IP, when it has one. */
  readonly endpoint?: InstanceEndpoint | undefined;
  /** Its NetworkPolicy; '' when not isolated. */
  readonly networkPolicy?: string | undefined;
  /** What its NetworkPolicy lets in, and its peer group (see InstanceNetworkState). */
  readonly ingressFrom?: readonly string[] | undefined;
  readonly peerGroup?: string | undefined;
}

export interface ListQuery {
  readonly providerId: string;
  readonly phases: readonly InstancePhase[];
  readonly kind: WorkloadKind | undefined;
  readonly pageSize: number; // 0 = default
  readonly pageToken: string;
}

export interface ListResult {
  readonly instances: readonly InstanceView[];
  readonly nextPageToken: string;
  /** How many instances match the filter, over all pages. */
  readonly totalSize: number;
}

export interface UndeployInput {
  readonly providerId: string;
  readonly instanceId: string;
  readonly graceSeconds: number | undefined;
  readonly propagation: Propagation | undefined;
}

export interface UndeployResult {
  /** False when nothing was left to delete (already gone): undeploy is idempotent. */
  readonly deleted: boolean;
  readonly kind: WorkloadKind | undefined;
  readonly workloadName: string;
  readonly instance: InstanceView | undefined;
}

export interface LogsInput extends Partial<LogOptions> {
  readonly providerId: string;
  readonly instanceId: string;
}

export interface InstanceServiceDeps {
  readonly session: Session;
  readonly tracker: InstanceTracker;
  readonly hub: InstanceWatchHub;
  readonly view: WorkloadView;
  readonly ledger: Ledger;
  readonly runtime: WorkloadRuntime;
  readonly usage: UsageSource;
  readonly logs: LogSource;
  /** Resolves when a Deploy of this instance that is in flight has finished (either way). */
  readonly settled: (instanceId: string) => Promise<void>;
  /** Scales a Deployment instance under admission (the provider's books). */
  readonly scale: (input: ScaleInput) => Promise<ScaleResult>;
  readonly log: Logger;
  /** The instances' Services and NetworkPolicies; absent: none are reported. */
  readonly network?: NetworkDirectory | undefined;
  /** Undeployed on the workload deleted. */
  readonly events?: EventRecorder | undefined;
}

export class InstanceService {
  constructor(private readonly deps: InstanceServiceDeps) {}

  get(providerId: string, instanceId: string): InstanceView {
    this.deps.session.verify(providerId);
    if (!instanceId) throw invalidArgument('instance_id is required');
    const s = this.deps.tracker.get(instanceId);
    if (!s) throw notFound(`instance "${instanceId}" does not exist`);
    return this.withUsage(s, this.deps.usage.current());
  }

  list(query: ListQuery): ListResult {
    this.deps.session.verify(query.providerId);
    const pageSize = query.pageSize === 0 ? DEFAULT_PAGE_SIZE : query.pageSize;
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw invalidArgument(`page_size must be between 0 and ${MAX_PAGE_SIZE} (got ${query.pageSize})`);
    }
    const phases = new Set(query.phases);
    const filterKey = `${[...phases].sort().join('|')};${query.kind ?? ''}`;
    const after = query.pageToken ? decodeToken(query.pageToken, filterKey) : undefined;
    const all = this.deps.tracker.list();
    const matches = (s: InstanceStatus): boolean => (phases.size === 0 || phases.has(s.phase)) && (query.kind === undefined || s.kind === query.kind);
    const filtered = phases.size === 0 && query.kind === undefined ? all : all.filter(matches);
    const start = after === undefined ? 0 : firstAfter(filtered, after);
    const page = filtered.slice(start, start + pageSize);
    const usage = this.deps.usage.current();
    const last = page.at(-1);
    const more = start + pageSize < filtered.length;
    return {
      instances: page.map((s) => this.withUsage(s, usage)),
      nextPageToken: more && last ? encodeToken(last.id, filterKey) : '',
      totalSize: filtered.length,
    };
  }

  /**
   * A snapshot, a synced marker, then every change; the caller closes the
   * subscription when done. The session is checked again before each item,
   * so a watch ends (FAILED_PRECONDITION / PERMISSION_DENIED) at its next
   * change once its provider is no longer the connected one.
   */
  watch(providerId: string): Subscription {
    const { session, hub, view } = this.deps;
    session.verify(providerId);
    if (!view.synced()) throw unavailable('the workload cache has not synced with the API server yet; retry shortly');
    const inner = hub.subscribe();
    return {
      close: () => inner.close(),
      pending: () => inner.pending(),
      [Symbol.asyncIterator]: async function* () {
        for await (const item of inner) {
          session.verify(providerId);
          yield item;
        }
      },
    };
  }

  /** Open watches and resyncs so far (for metrics, and to show nothing is left open). */
  watchStats(): WatchStatsSnapshot {
    return this.deps.hub.stats();
  }

  withUsage(s: InstanceStatus, usage: UsageSnapshot): InstanceView {
    const resources = usage.perInstance.get(s.id);
    const network = this.deps.network?.of(s.id);
    return {
      ...s,
      usage: resources ? { resources, sampledAt: usage.sampledAt, source: usage.source, stale: usage.stale } : undefined,
      endpoint: endpointOf(network, s.podIp),
      networkPolicy: network?.networkPolicy ?? '',
      ingressFrom: network?.ingressFrom ?? [],
      peerGroup: network?.peerGroup ?? '',
    };
  }

  async *logs(input: LogsInput, signal: AbortSignal): AsyncIterable<{ readonly podName: string; readonly lines: readonly string[] }> {
    this.deps.session.verify(input.providerId);
    if (!input.instanceId) throw invalidArgument('instance_id is required');
    const problems: string[] = [];
    if (input.tailLines !== undefined && !(Number.isSafeInteger(input.tailLines) && input.tailLines >= 0))
      problems.push(`tail_lines must be zero or more (got ${input.tailLines})`);
    if (input.sinceSeconds !== undefined && !(Number.isSafeInteger(input.sinceSeconds) && input.sinceSeconds > 0))
      problems.push(`since_seconds must be positive (got ${input.sinceSeconds})`);
    if (problems.length > 0) throw invalidArgument(problems.join('; '));
    const s = this.deps.tracker.get(input.instanceId);
    if (!s) throw notFound(`instance "${input.instanceId}" does not exist`);
    if (!s.podName) throw failedPrecondition(`instance "${s.id}" has no pod yet (${describe(s)}): there are no logs to read`);
    if (!s.node || (s.phase === 'Pending' && s.startedAt === undefined) || (s.stuck && s.exitCode === undefined)) {
      throw failedPrecondition(`instance "${s.id}" has not started (${describe(s)}): there are no logs to read yet`);
    }
    const podName = s.podName;
    const batches = this.deps.logs.stream(
      podName,
      {
        container: input.container || MAIN_CONTAINER,
        tailLines: input.tailLines,
        sinceSeconds: input.sinceSeconds,
        follow: input.follow ?? false,
        timestamps: input.timestamps ?? false,
      },
      signal,
    );
    for await (const lines of batches) yield { podName, lines };
  }

  /** Sets a DEPLOYMENT instance's replicas (see Provider.scale) and answers with the instance as it is then. */
  async scale(input: ScaleInput): Promise<ScaleResult & { instance: InstanceView | undefined }> {
    // A Deploy still creating this instance must land first, so the scale sees its Deployment.
    if (input.instanceId) await this.deps.settled(input.instanceId);
    const result = await this.deps.scale(input);
    const after = this.deps.tracker.get(input.instanceId);
    return { ...result, instance: after && this.withUsage(after, this.deps.usage.current()) };
  }

  /**
   * Deletes the instance's Pod, or its Job with the Job's pods. Its room
   * returns to the books when its pods are gone (a terminating pod still
   * holds its node share), after which Deploy of the same id creates it anew.
   */
  async undeploy(input: UndeployInput): Promise<UndeployResult> {
    const { session, view, tracker, runtime, ledger, log } = this.deps;
    session.verify(input.providerId);
    if (!input.instanceId) throw invalidArgument('instance_id is required');
    if (input.graceSeconds !== undefined && !(Number.isSafeInteger(input.graceSeconds) && input.graceSeconds >= 0)) {
      throw invalidArgument(`grace_seconds must be zero or more (got ${input.graceSeconds})`);
    }
    if (!view.synced()) throw unavailable('the workload cache has not synced with the API server yet; retry shortly');
    // A Deploy still creating this instance must land first, or its object would appear after the delete.
    await this.deps.settled(input.instanceId);

    const known = tracker.get(input.instanceId);
    let ref: WorkloadRef | undefined = known && { kind: known.kind, name: known.workloadName, uid: known.workloadUid };
    if (!ref && ledger.reservation(input.instanceId)) {
      // Created but not yet seen by the watch: ask the cluster itself.
      const found = await runtime.lookup(input.instanceId);
      if (found?.specHash !== undefined) ref = { kind: found.kind, name: found.name, uid: found.uid };
    }
    if (!ref) {
      log.info({ instanceId: input.instanceId }, 'undeploy: instance already gone');
      return { deleted: false, kind: undefined, workloadName: '', instance: undefined };
    }
    const propagation = input.propagation ?? 'Background';
    const outcome = await runtime.delete(ref, { propagation, graceSeconds: input.graceSeconds });
    ledger.release(input.instanceId);
    tracker.forget(input.instanceId); // a stuck instance kept listed after its deletion goes now
    log.info(
      { instanceId: input.instanceId, kind: ref.kind, workload: ref.name, propagation, graceSeconds: input.graceSeconds, outcome },
      'instance undeployed',
    );
    if (outcome === 'deleted') {
      (this.deps.events ?? noEvents).record({
        subject: ref,
        reason: 'Undeployed',
        action: 'Undeploy',
        note: `instance "${input.instanceId}" undeployed by provider "${input.providerId}" (propagation ${propagation}${input.graceSeconds !== undefined ? `, grace ${input.graceSeconds} s` : ''})`,
      });
    }
    const after = tracker.get(input.instanceId);
    return {
      deleted: outcome === 'deleted',
      kind: ref.kind,
      workloadName: ref.name,
      instance: after && this.withUsage(after, this.deps.usage.current()),
    };
  }
}

function describe(s: InstanceStatus): string {
  return [s.phase, s.reason].filter(Boolean).join(': ') + (s.message ? ` (${s.message})` : '');
}

/** Index of the first instance whose id sorts after `id` (the list is sorted by id). */
function firstAfter(list: readonly InstanceStatus[], id: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid]?.id ?? '') <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Keyset paging: the token names the last id served, so inserts and deletes never shift a page. */
function encodeToken(lastId: string, filterKey: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: lastId, filter: filterKey })).toString('base64url');
}

function decodeToken(token: string, filterKey: string): string {
  let parsed: { v?: unknown; after?: unknown; filter?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as typeof parsed;
  } catch {
    throw invalidArgument('page_token is not a token this service issued');
  }
  if (parsed?.v !== 1 || typeof parsed.after !== 'string') throw invalidArgument('page_token is not a token this service issued');
  if (parsed.filter !== filterKey) throw invalidArgument('page_token belongs to a listing with other filters (phases/kind must stay the same across pages)');
  return parsed.after;
}

/**
 * The provider's use cases, one method per RPC, free of transport and
 * Kubernetes types. Every failure is a DomainError.
 */
import { capacityOf, describeShortfall, formatAmount, shortfall, type CapacityReport } from './capacity.js';
import { podCount, replicasProblem, validateDeploy, type DeployDefaults, type DeployInput, type DeploySpec } from './deploy-spec.js';
import {
  DomainError,
  ErrorKind,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  resourceExhausted,
  unavailable,
} from './errors.js';
import { noEvents, type EventRecorder } from './events.js';
import { fullyQualified, parseImageReference, type ImagePolicy } from './images.js';
import type { InstanceStatus } from './instance-status.js';
import type { Ledger } from './ledger.js';
import type { CapacitySource, Leadership, Logger, UsageSnapshot, UsageSource, WorkloadRuntime, WorkloadView } from './ports.js';
import { RESOURCE_KEYS, subtractFloor, type Resources } from './resources.js';
import type { Session } from './session.js';
import { scale, type WorkloadKind } from './instances.js';
import { endpointOf, type InstanceEndpoint, type InstanceNetworkState, type NetworkDirectory } from './workload-network.js';
import { claimedBytesAdded, ephemeralPerPod, storageNeed, storageReport, storageShortfall, type StorageReport } from './storage.js';
import { guardedClaimed, guardedUsed, podRoom, quotaReport, type QuotaGuardReport, type QuotaView } from './quota-guard.js';

/** The tags HealthCheck may report (the config picks which); the wire has one flag per tag. */
export const RESOURCE_TAGS = ['cpu', 'memory', 'gpu', 'camera'] as const;
export type ResourceTag = (typeof RESOURCE_TAGS)[number];

export interface ProviderOptions {
  readonly resourceTags: readonly ResourceTag[];
  readonly maxInstances: number;
  readonly deployDefaults: DeployDefaults;
  /** workloads.allowed_images; absent or empty allows every image. */
  readonly imagePolicy?: ImagePolicy | undefined;
  /**
   * kubernetes.deploy_timeout_seconds: the longest a Deploy waits on the API
   * server before it answers UNAVAILABLE. Absent: no bound of its own.
   */
  readonly deployTimeoutMs?: number | undefined;
}

/** The caller's id as JSON, cut at 200 characters: the answer may come before validation, and stays one line. */
const quoted = (id: string): string => JSON.stringify(id.length > 200 ? `${id.slice(0, 200)}…` : id);

/** Kept between the answer and the caller's own deadline, so the answer reaches it in time. */
const ANSWER_MARGIN_MS = 250;

export interface ProviderDeps {
  readonly session: Session;
  /** Only the active replica admits; asked at every admission. */
  readonly leadership: Leadership;
  readonly ledger: Ledger;
  readonly view: WorkloadView;
  readonly runtime: WorkloadRuntime;
  readonly capacity: CapacitySource;
  readonly usage: UsageSource;
  readonly log: Logger;
  /** The instances' Services and NetworkPolicies, for what a retried Deploy reports. */
  readonly network?: NetworkDirectory | undefined;
  /** Deployed on each workload created; AdmissionRejected (aggregated) on the daemon. */
  readonly events?: EventRecorder | undefined;
  /** resource.enforce_with_resourcequota: the namespace quota, counted in the books. */
  readonly quota?: QuotaView | undefined;
  /** The instances as the instance API reports them (no I/O): a Deploy of an existing instance reports its pod IP from here. */
  readonly statuses?: { get(instanceId: string): Pick<InstanceStatus, 'podIp'> | undefined } | undefined;
}

export interface DeployResult {
  readonly workloadName: string;
  readonly kind: WorkloadKind;
  /** False when the instance already existed with the same spec. */
  readonly created: boolean;
  /** Its Service, when it has one; the pod IP only when the instance existed already and its pod has one. */
  readonly endpoint?: InstanceEndpoint | undefined;
  /** Its NetworkPolicy; '' when not isolated. */
  readonly networkPolicy?: string | undefined;
  /** The claims made for its claim volumes. */
  readonly volumeClaims: readonly string[];
  /** A Deployment's replicas as asked for; 0 for the other kinds. */
  readonly replicas: number;
}

export interface ScaleInput {
  readonly providerId: string;
  readonly instanceId: string;
  readonly replicas: number;
}

export interface ScaleResult {
  readonly previousReplicas: number;
  readonly replicas: number;
}

export interface HealthReport {
  readonly capacity: CapacityReport;
  readonly tags: ReadonlySet<ResourceTag>;
}

export const PROVIDER_TYPE = 'kubernetes';

/** Why admission refused a Deploy; each kind is its own AdmissionRejected series. */
type RejectionKind = 'InsufficientCapacity' | 'InstanceLimit' | 'ImageNotAllowed';
const REJECTIONS: Record<RejectionKind, string> = {
  InsufficientCapacity: 'not enough capacity left',
  InstanceLimit: 'the instance limit (limits.max_instances) is reached',
  ImageNotAllowed: 'image not allowed by workloads.allowed_images',
};

export class Provider {
  /** Deploys whose create call is in flight, so a concurrent retry joins instead of racing. */
  private readonly inFlight = new Map<string, { specHash: string; done: Promise<DeployResult> }>();
  /**
   * Deploys whose create succeeded but whose workload the watch has not shown
   * yet: a retry in that window is answered from here instead of a second
   * create that the API server would refuse as a conflict. An entry lives as
   * long as the ledger's reservation for it (until seen, or its TTL).
   */
  private readonly createdUnseen = new Map<string, { specHash: string; result: DeployResult }>();
  private overcommitLogged = '';
  /** The configured tags, one set for every HealthCheck (answers only read it). */
  private readonly tags: ReadonlySet<ResourceTag>;

  constructor(
    private readonly deps: ProviderDeps,
    private readonly options: ProviderOptions,
  ) {
    this.tags = new Set(options.resourceTags);
  }

  async connect(providerId: string): Promise<{ providerType: string }> {
    await this.deps.session.connect(providerId);
    return { providerType: PROVIDER_TYPE };
  }

  async disconnect(providerId: string): Promise<void> {
    await this.deps.session.disconnect(providerId);
  }

  capacity(providerId: string): CapacityReport {
    this.deps.session.verifyIfConnected(providerId);
    return this.currentCapacity();
  }

  available(providerId: string): Resources {
    return this.capacity(providerId).available;
  }

  /** Storage books for GetCapacity and GetAvailable (the caller has checked the session). */
  storage(): StorageReport {
    const { ledger, quota } = this.deps;
    const used = ledger.storageUsed();
    // With the quota guard, claims made around the daemon take room from the storage promised too.
    const claimed = guardedClaimed(used.claimed, ledger.reservedClaimed(), quota?.status());
    return storageReport(this.deps.capacity.storage?.(), { ephemeral: used.ephemeral, claimed });
  }

  /**
   * Sets a Deployment instance's replicas. Growing it is admitted like a
   * deploy of the extra pods, in one synchronous step with the reservation;
   * when it does not fit nothing changes. Shrinking always fits.
   */
  async scale(input: ScaleInput): Promise<ScaleResult> {
    await this.deps.session.verifyFresh(input.providerId);
    if (!input.instanceId) throw invalidArgument('instance_id is required');
    const problem = replicasProblem(input.replicas, 'replicas');
    if (problem) throw invalidArgument(problem);
    if (!this.deps.view.synced()) throw unavailable('the workload cache has not synced with the API server yet; retry shortly');
    const { ledger } = this.deps;
    const instance = ledger.instance(input.instanceId);
    if (!instance) throw notFound(`instance "${input.instanceId}" does not exist`);
    if (instance.kind !== 'Deployment') throw failedPrecondition(`instance "${input.instanceId}" is a ${instance.kind}: only DEPLOYMENT instances scale`);
    if (instance.phase === 'Terminating') throw failedPrecondition(`instance "${input.instanceId}" is being undeployed`);
    const d = (this.deps.view.snapshot().deployments ?? []).find((x) => x.instanceId === input.instanceId);
    if (!d) throw notFound(`instance "${input.instanceId}" does not exist`);
    if (ledger.scalingInProgress(input.instanceId)) throw unavailable(`instance "${input.instanceId}" is being scaled; retry once that has landed`);
    const previousReplicas = d.replicas;
    if (input.replicas === previousReplicas) return { previousReplicas, replicas: input.replicas };

    const term = this.deps.leadership.term();
    if (!term) throw unavailable('this replica is the standby: only the active replica scales instances; retry shortly');
    const wanted = scale(d.podRequests, input.replicas);
    const extra = subtractFloor(wanted, instance.holds);
    const extraStorage = Math.max(0, (input.replicas - previousReplicas) * (d.podEphemeralStorage ?? 0));
    if (input.replicas > previousReplicas) this.checkScaleFits(input.instanceId, input.replicas - previousReplicas, input.replicas, extra, extraStorage);
    ledger.reserveScale(input.instanceId, input.replicas, extra, extraStorage, Math.max(0, input.replicas - previousReplicas));
    try {
      await this.deps.runtime.scale({ kind: 'Deployment', name: d.name, uid: d.uid }, input.replicas, term);
    } catch (err) {
      ledger.releaseScale(input.instanceId);
      throw err;
    }
    ledger.markScaled(input.instanceId);
    this.deps.log.info({ instanceId: input.instanceId, previousReplicas, replicas: input.replicas }, 'instance scaled');
    return { previousReplicas, replicas: input.replicas };
  }

  /** A scale-up is admitted like a deploy: the extra replicas must fit the books, the namespace quota and the storage. */
  private checkScaleFits(instanceId: string, morePods: number, replicas: number, extra: Resources, extraStorage: number): void {
    const quotaPods = podRoom(this.deps.quota?.status(), this.deps.ledger.reservedPods());
    if (quotaPods !== undefined && quotaPods < morePods) {
      throw resourceExhausted(`scaling "${instanceId}" to ${replicas} replicas: the namespace's ResourceQuota admits ${Math.max(0, quotaPods)} more pods`);
    }
    const available = subtractFloor(this.deps.capacity.total(), this.booksUsed());
    if (shortfall(extra, available).length > 0) {
      throw resourceExhausted(`scaling "${instanceId}" to ${replicas} replicas ${describeShortfall(extra, available)}`);
    }
    const short = storageShortfall(extraStorage, this.storage());
    if (short) throw resourceExhausted(`scaling "${instanceId}" to ${replicas} replicas ${short}`);
  }

  health(providerId: string): HealthReport {
    this.deps.session.heartbeat(providerId);
    return { capacity: this.currentCapacity(), tags: this.tags };
  }

  usage(providerId: string): UsageSnapshot {
    this.deps.session.verify(providerId);
    return this.deps.usage.current();
  }

  /**
   * Deploys within a bounded time: the configured timeout, or less when the
   * caller's deadline (epoch ms) comes sooner. Past it the answer is
   * UNAVAILABLE and the create in flight is cut; a create the API server got
   * anyway shows up in the books through the watch, and a retry with the same
   * instance id then succeeds without creating anything twice.
   */
  async deploy(input: DeployInput, callerDeadline?: number): Promise<DeployResult> {
    const configured = this.options.deployTimeoutMs ?? Number.POSITIVE_INFINITY;
    const callerLeft = (callerDeadline ?? Number.POSITIVE_INFINITY) - Date.now() - ANSWER_MARGIN_MS;
    const budgetMs = Math.max(0, Math.min(configured, callerLeft));
    if (!Number.isFinite(budgetMs)) return this.deployNow(input, undefined);
    const deadline = new AbortController();
    const bound = configured <= callerLeft ? `${configured / 1000} s (kubernetes.deploy_timeout_seconds)` : `the caller's deadline`;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        deadline.abort();
        reject(
          unavailable(
            `the Kubernetes API server did not answer within ${bound} while deploying instance ${quoted(input.instanceId)}; ` +
              'if the create reached it the instance appears shortly: retry the Deploy with the same instance id',
          ),
        );
      }, budgetMs);
    });
    try {
      return await Promise.race([this.deployNow(input, deadline.signal), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async deployNow(input: DeployInput, deadline: AbortSignal | undefined): Promise<DeployResult> {
    await this.deps.session.verifyFresh(input.providerId);
    const spec = validateDeploy(input, this.options.deployDefaults);
    this.checkImageAllowed(spec.instanceId, spec.image);
    if (!this.deps.view.synced()) {
      throw unavailable('the workload cache has not synced with the API server yet; retry shortly');
    }

    const existing = this.deps.ledger.instance(spec.instanceId);
    if (existing?.phase === 'Terminating') {
      throw unavailable(`instance "${spec.instanceId}" is being undeployed; deploy it again once its pods are gone`);
    }
    if (existing) return this.sameOrConflict(spec, existing.specHash, existing.name, existing.kind, this.replicasNow(spec));

    const pending = this.inFlight.get(spec.instanceId);
    if (pending) {
      if (pending.specHash !== spec.specHash) throw this.conflict(spec.instanceId);
      const result = await pending.done;
      return { ...result, created: false };
    }

    const unseen = this.createdButUnseen(spec.instanceId);
    if (unseen) return this.sameOrConflict(spec, unseen.specHash, unseen.result.workloadName, unseen.result.kind, unseen.result.replicas);

    const term = this.admit(spec);
    const done = this.create(spec, term, deadline);
    this.inFlight.set(spec.instanceId, { specHash: spec.specHash, done });
    try {
      const result = await done;
      if (result.created) this.createdUnseen.set(spec.instanceId, { specHash: spec.specHash, result });
      return result;
    } finally {
      this.inFlight.delete(spec.instanceId);
    }
  }

  /** The created-but-unseen entry of an instance; drops every entry whose reservation is gone (seen, released or expired). */
  private createdButUnseen(instanceId: string): { specHash: string; result: DeployResult } | undefined {
    for (const id of this.createdUnseen.keys()) if (!this.deps.ledger.reservation(id)) this.createdUnseen.delete(id);
    return this.createdUnseen.get(instanceId);
  }

  /** Resolves once a Deploy of this instance that is in flight has finished, whatever its outcome. */
  async settled(instanceId: string): Promise<void> {
    await this.inFlight.get(instanceId)?.done.catch(() => undefined);
  }

  /**
   * Reports a refused Deploy as AdmissionRejected and returns the error to
   * throw. Refusals of one kind are one Event with a count (the series key
   * is the kind), not one per call: a control plane retrying into a full
   * provider must not flood the API server.
   */
  private rejected(kind: RejectionKind, instanceId: string, err: DomainError): DomainError {
    (this.deps.events ?? noEvents).record({
      subject: 'daemon',
      reason: 'AdmissionRejected',
      action: 'Deploy',
      seriesKey: kind,
      note: `Deploys refused: ${REJECTIONS[kind]}. The first: instance "${instanceId}": ${err.message}`,
    });
    return err;
  }

  /** Before anything else happens: a refused image never reaches admission, the books or the cluster. */
  private checkImageAllowed(instanceId: string, image: string): void {
    const policy = this.options.imagePolicy;
    if (!policy?.restricted) return;
    const ref = parseImageReference(image);
    // validateDeploy has already refused references that do not parse.
    if (typeof ref === 'string' || !policy.allows(ref)) {
      throw this.rejected(
        'ImageNotAllowed',
        instanceId,
        permissionDenied(`image "${image}" (${typeof ref === 'string' ? 'unparsable' : fullyQualified(ref)}) is not allowed by workloads.allowed_images`),
      );
    }
  }

  /**
   * Admission and reservation happen in one synchronous step: nothing can
   * slip in between. Returns the leadership term the create runs under.
   */
  private admit(spec: DeploySpec): AbortSignal {
    const { ledger } = this.deps;
    const term = this.deps.leadership.term();
    if (!term) throw unavailable('this replica is the standby: only the active replica admits deploys; retry shortly');
    if (ledger.liveCount() >= this.options.maxInstances) {
      throw this.rejected(
        'InstanceLimit',
        spec.instanceId,
        resourceExhausted(`instance limit reached: ${this.options.maxInstances} live instances (limits.max_instances)`),
      );
    }
    // A Deployment is admitted as a whole: every replica must fit, or none is created.
    const pods = podCount(spec);
    const quotaPods = podRoom(this.deps.quota?.status(), ledger.reservedPods());
    if (quotaPods !== undefined && pods > 0 && quotaPods < pods) {
      throw resourceExhausted(`the namespace's ResourceQuota admits no more pods (${this.deps.quota?.status()?.desired.pods} at most)`);
    }
    const need = scale(spec.resources, pods);
    const available = subtractFloor(this.deps.capacity.total(), this.booksUsed());
    if (shortfall(need, available).length > 0) {
      const message = pods === 1 ? describeShortfall(need, available) : `${pods} replicas ${describeShortfall(need, available)}`;
      throw this.rejected('InsufficientCapacity', spec.instanceId, resourceExhausted(message));
    }
    // A retained claim this deploy takes again is in the books already: only new claims add to them.
    const existingClaims = [...ledger.claimsOf(spec.instanceId)];
    const short = storageShortfall(storageNeed(spec.volumes, pods, existingClaims), this.storage());
    if (short) throw this.rejected('InsufficientCapacity', spec.instanceId, resourceExhausted(short));
    ledger.reserve(
      spec.instanceId,
      spec.specHash,
      need,
      {
        ephemeral: ephemeralPerPod(spec.volumes) * pods,
        claimed: claimedBytesAdded(spec.volumes, existingClaims),
      },
      pods,
    );
    return term;
  }

  private async create(spec: DeploySpec, term: AbortSignal, deadline: AbortSignal | undefined): Promise<DeployResult> {
    const { ledger, runtime, log } = this.deps;
    try {
      const { name, uid, claims, network } = await runtime.create(spec, deadline ? AbortSignal.any([term, deadline]) : term);
      ledger.markCreated(spec.instanceId);
      log.info(
        {
          instanceId: spec.instanceId,
          workload: name,
          kind: spec.kind,
          resources: spec.resources,
          replicas: spec.replicas,
          claims,
          envKeys: Object.keys(spec.env),
          ...(network?.endpoint ? { service: network.endpoint.serviceName } : {}),
          ...(network?.networkPolicy ? { networkPolicy: network.networkPolicy } : {}),
        },
        'instance created',
      );
      const replicas = spec.kind === 'Deployment' ? `, ${spec.replicas ?? 1} replicas` : '';
      (this.deps.events ?? noEvents).record({
        subject: { kind: spec.kind, name, uid },
        reason: 'Deployed',
        action: 'Deploy',
        note: `instance "${spec.instanceId}" of provider "${spec.providerId}" deployed: image ${spec.image}, ${RESOURCE_KEYS.map((k) => formatAmount(k, spec.resources[k])).join(', ')}${replicas}`,
      });
      return { workloadName: name, kind: spec.kind, created: true, volumeClaims: claims, replicas: spec.replicas ?? 0, ...networkResult(network) };
    } catch (err) {
      ledger.release(spec.instanceId);
      if (term.aborted) {
        // The successor's books decide now; the instance id makes the retry idempotent.
        throw unavailable(`this replica stopped being the active one while creating instance "${spec.instanceId}"; retry the Deploy`);
      }
      if (err instanceof DomainError && err.kind === ErrorKind.AlreadyExists) {
        // Not in our cache but in the cluster: a retry racing the watch, or a restart. Compare with what is there.
        const found = await runtime.lookup(spec.instanceId, deadline);
        if (found) return this.sameOrConflict(spec, found.specHash, found.name, spec.kind, spec.replicas ?? 0);
      }
      throw err;
    }
  }

  private async sameOrConflict(spec: DeploySpec, existingHash: string | undefined, name: string, kind: WorkloadKind, replicas: number): Promise<DeployResult> {
    if (existingHash !== spec.specHash) throw this.conflict(spec.instanceId);
    return {
      workloadName: name,
      kind,
      created: false,
      volumeClaims: this.deps.runtime.claimNames(spec),
      replicas,
      // A new pod has no IP when Deploy answers; one that already runs does, and the caller should not need GetInstance for it.
      ...networkResult(await this.networkOf(spec), this.deps.statuses?.get(spec.instanceId)?.podIp ?? ''),
    };
  }

  /** A Deployment's replicas as the cluster shows them now (it may have been scaled since it was deployed). */
  private replicasNow(spec: DeploySpec): number {
    if (spec.kind !== 'Deployment') return 0;
    return (this.deps.view.snapshot().deployments ?? []).find((d) => d.instanceId === spec.instanceId)?.replicas ?? spec.replicas ?? 1;
  }

  /**
   * What a retry reports; a retry is also when a Service or NetworkPolicy
   * the spec asks for but the cluster lacks (the daemon stopped between the
   * workload and them, or someone deleted them) is made again.
   */
  private async networkOf(spec: DeploySpec): Promise<InstanceNetworkState | undefined> {
    const { runtime, network } = this.deps;
    const seen = network?.of(spec.instanceId);
    const missing = (spec.network.isolate && !seen?.networkPolicy) || (spec.network.expose !== 'None' && !seen?.endpoint);
    if (!missing || !runtime.ensureNetwork) return seen;
    const found = await runtime.lookup(spec.instanceId);
    if (!found?.uid || found.specHash !== spec.specHash) return seen;
    return runtime.ensureNetwork(spec, { kind: found.kind, name: found.name, uid: found.uid });
  }

  private conflict(instanceId: string): DomainError {
    return alreadyExists(`instance "${instanceId}" already exists with a different spec`);
  }

  /** Resolves once every create in flight has finished: a resigning leader lets them land before it hands over. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()].map((f) => f.done));
  }

  /** What instances and reservations hold, or more when the namespace quota leaves less room (core/quota-guard.ts). */
  private booksUsed(): Resources {
    const { ledger, quota } = this.deps;
    return guardedUsed(this.deps.capacity.total(), ledger.used(), ledger.reserved(), quota?.status());
  }

  /** The quota guard as the books see it; undefined when it is off. */
  quotaGuard(): QuotaGuardReport | undefined {
    const status = this.deps.quota?.status();
    if (!status) return undefined;
    const { ledger } = this.deps;
    return quotaReport(status, subtractFloor(ledger.used(), ledger.reserved()));
  }

  /** For operators (metrics, health): the books without a session check. */
  currentCapacity(): CapacityReport {
    const report = capacityOf(this.deps.capacity.total(), this.booksUsed());
    const key = report.overcommitted.join(',');
    if (key !== this.overcommitLogged) {
      // Logged on change only: HealthCheck every 30 s must not repeat the same warning forever.
      if (key)
        this.deps.log.warn({ overcommitted: report.overcommitted, total: report.total }, 'workloads hold more than the capacity; reporting available = 0');
      this.overcommitLogged = key;
    }
    return report;
  }
}

function networkResult(network: InstanceNetworkState | undefined, podIp = ''): Pick<DeployResult, 'endpoint' | 'networkPolicy'> {
  return { endpoint: endpointOf(network, podIp), networkPolicy: network?.networkPolicy ?? '' };
}

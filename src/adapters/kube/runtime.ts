/** Creates and deletes workloads for the core (WorkloadRuntime) and reads them back on conflicts. */
import type { AppsV1Api, BatchV1Api, CoreV1Api, V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import type { DeploySpec } from '../../core/deploy-spec.js';
import { ErrorKind, DomainError, unavailable } from '../../core/errors.js';
import type { WorkloadKind } from '../../core/instances.js';
import type { DeleteOptions, DeleteOutcome, WorkloadRef, WorkloadRuntime } from '../../core/ports.js';
import { abortWith } from '../../shared/kube-abort.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { ANNOTATION_INSTANCE_ID, ANNOTATION_SPEC_HASH } from '../../shared/labels.js';
import { deploymentManifest, jobManifest, podManifest, type ManifestContext } from './manifests.js';
import { workloadName } from './naming.js';
import type { NetworkObjects } from './network-objects.js';
import type { InstanceNetworkState } from '../../core/workload-network.js';
import { ClaimMaker } from './claims.js';
import { checkJobPodAdmission } from './admission-check.js';
import { WORKLOAD_API_VERSION } from './workload-api.js';

export interface RuntimeContext extends ManifestContext {
  /** A ResourceQuota guards the namespace: a Job's or Deployment's pod is dry-run through admission before the workload is created. */
  readonly quotaGuard?: boolean | undefined;
}

export class KubeRuntime implements WorkloadRuntime {
  private readonly claims: ClaimMaker;

  constructor(
    private readonly core: CoreV1Api,
    private readonly batch: BatchV1Api,
    private readonly apps: AppsV1Api,
    private readonly ctx: RuntimeContext,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    /** The instances' Services and NetworkPolicies; absent: none are made. */
    private readonly network?: NetworkObjects,
  ) {
    this.claims = new ClaimMaker(core, ctx, retry);
  }

  async create(
    spec: DeploySpec,
    signal?: AbortSignal,
  ): Promise<{ name: string; uid: string | undefined; claims: readonly string[]; network?: InstanceNetworkState | undefined }> {
    const owner = await this.createWorkload(spec, signal);
    const uid = owner.uid === '' ? undefined : owner.uid;
    const wantsClaims = this.claims.names(spec).length > 0;
    if (!uid || (!wantsClaims && !this.network)) return { name: owner.name, uid, claims: [] };
    try {
      const claims = wantsClaims ? await this.claims.create(spec, owner, signal) : [];
      // The network objects are not cut by `signal`: the workload is admitted and made, and they hold nothing
      // against the books, so a replica that stops leading meanwhile finishes the instance rather than undo it.
      const network = await this.network?.ensure(spec, { kind: spec.kind, name: owner.name, uid });
      return { name: owner.name, uid, claims, network };
    } catch (err) {
      // Nothing half made: without its claims the workload could never start, and without its Service or
      // NetworkPolicy it is not what was asked for. Its owned claims and network objects go with it.
      await this.delete({ kind: spec.kind, name: owner.name, uid }, { propagation: 'Background' }).catch(() => undefined);
      // A name conflict here is a claim's, Service's or NetworkPolicy's, not the workload's: the caller must not
      // take it for an existing instance.
      if (err instanceof DomainError && err.kind === ErrorKind.AlreadyExists) {
        throw unavailable(`the claims, Service or NetworkPolicy of instance "${spec.instanceId}" could not be made (${err.message}); retry the Deploy`);
      }
      throw err;
    }
  }

  async ensureNetwork(spec: DeploySpec, ref: Required<WorkloadRef>): Promise<InstanceNetworkState | undefined> {
    return this.network?.ensure(spec, ref);
  }

  claimNames(spec: DeploySpec): readonly string[] {
    return this.claims.names(spec);
  }

  /** Creates the Pod, Job or Deployment and returns it as the owner of the instance's claims and network objects. */
  private async createWorkload(spec: DeploySpec, signal?: AbortSignal): Promise<V1OwnerReference> {
    const namespace = this.ctx.namespace;
    const name = workloadName(spec.instanceId);
    const options = signal && abortWith(signal);
    if (spec.kind === 'Job') {
      const body = jobManifest(spec, this.ctx);
      if (this.ctx.quotaGuard || spec.scheduling?.priorityClassName) await checkJobPodAdmission(this.core, body, this.retry, signal);
      const job = await withRetry(
        { verb: 'create', resource: 'jobs', namespace },
        () => this.batch.createNamespacedJob({ namespace, body }, options),
        this.retry,
        signal,
      );
      return { apiVersion: WORKLOAD_API_VERSION.Job, kind: 'Job', name, uid: job.metadata?.uid ?? '' };
    }
    if (spec.kind === 'Deployment') {
      const body = deploymentManifest(spec, this.ctx);
      const replicas = spec.replicas ?? 1;
      // Without replicas no pod counts against the quota yet, but an unknown
      // PriorityClass must still be refused now, not at the first scale-up.
      if ((this.ctx.quotaGuard && replicas > 0) || spec.scheduling?.priorityClassName) {
        await checkJobPodAdmission(this.core, body, this.retry, signal).catch((err: unknown) => {
          if (replicas === 0 && err instanceof DomainError && err.kind === ErrorKind.ResourceExhausted) return;
          throw err;
        });
      }
      const d = await withRetry(
        { verb: 'create', resource: 'deployments', namespace },
        () => this.apps.createNamespacedDeployment({ namespace, body }, options),
        this.retry,
        signal,
      );
      return { apiVersion: WORKLOAD_API_VERSION.Deployment, kind: 'Deployment', name, uid: d.metadata?.uid ?? '' };
    }
    const body = podManifest(spec, this.ctx);
    const pod = await withRetry(
      { verb: 'create', resource: 'pods', namespace },
      () => this.core.createNamespacedPod({ namespace, body }, options),
      this.retry,
      signal,
    );
    return { apiVersion: WORKLOAD_API_VERSION.Pod, kind: 'Pod', name, uid: pod.metadata?.uid ?? '' };
  }

  async scale(ref: WorkloadRef, replicas: number, signal?: AbortSignal): Promise<void> {
    const namespace = this.ctx.namespace;
    // The pods a scale-up adds meet the same admission as a deploy's: ask it
    // first (a PriorityClass deleted since the deploy, a full quota), rather
    // than answer success and leave the ReplicaSet failing to create them.
    const current = await withRetry(
      { verb: 'get', resource: 'deployments', namespace },
      () => this.apps.readNamespacedDeployment({ name: ref.name, namespace }, signal && abortWith(signal)),
      this.retry,
      signal,
    );
    if ((current.spec?.replicas ?? 0) < replicas && (this.ctx.quotaGuard || current.spec?.template?.spec?.priorityClassName)) {
      await checkJobPodAdmission(this.core, current, this.retry, signal);
    }
    const body = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: ref.name, namespace }, spec: { replicas } };
    await withRetry(
      { verb: 'update', resource: 'deployments/scale', namespace },
      () => this.apps.replaceNamespacedDeploymentScale({ name: ref.name, namespace, body }, signal && abortWith(signal)),
      this.retry,
      signal,
    );
  }

  async lookup(
    instanceId: string,
    signal?: AbortSignal,
  ): Promise<{ name: string; kind: WorkloadKind; uid: string | undefined; specHash: string | undefined } | undefined> {
    const name = workloadName(instanceId);
    const namespace = this.ctx.namespace;
    const options = signal && abortWith(signal);
    const pod = await this.getOrUndefined(() =>
      withRetry({ verb: 'get', resource: 'pods', namespace }, () => this.core.readNamespacedPod({ name, namespace }, options), this.retry, signal),
    );
    if (pod) return this.describe(name, 'Pod', instanceId, pod.metadata);
    const job = await this.getOrUndefined(() =>
      withRetry({ verb: 'get', resource: 'jobs', namespace }, () => this.batch.readNamespacedJob({ name, namespace }, options), this.retry, signal),
    );
    if (job) return this.describe(name, 'Job', instanceId, job.metadata);
    const deployment = await this.getOrUndefined(() =>
      withRetry(
        { verb: 'get', resource: 'deployments', namespace },
        () => this.apps.readNamespacedDeployment({ name, namespace }, options),
        this.retry,
        signal,
      ),
    );
    if (deployment) return this.describe(name, 'Deployment', instanceId, deployment.metadata);
    return undefined;
  }

  async delete(ref: WorkloadRef, options: DeleteOptions): Promise<DeleteOutcome> {
    const namespace = this.ctx.namespace;
    // A uid precondition makes the API refuse (409) to delete a newer object that took the name meanwhile.
    const body = {
      ...(options.graceSeconds !== undefined ? { gracePeriodSeconds: options.graceSeconds } : {}),
      ...(ref.uid ? { preconditions: { uid: ref.uid } } : {}),
      propagationPolicy: options.propagation,
    };
    const params = {
      name: ref.name,
      namespace,
      propagationPolicy: options.propagation,
      ...(options.graceSeconds !== undefined ? { gracePeriodSeconds: options.graceSeconds } : {}),
      body,
    };
    try {
      if (ref.kind === 'Job') {
        await withRetry({ verb: 'delete', resource: 'jobs', namespace }, () => this.batch.deleteNamespacedJob(params), this.retry);
      } else if (ref.kind === 'Deployment') {
        // Background or foreground, the garbage collector removes its ReplicaSet and pods (never orphaned).
        await withRetry({ verb: 'delete', resource: 'deployments', namespace }, () => this.apps.deleteNamespacedDeployment(params), this.retry);
      } else {
        await withRetry({ verb: 'delete', resource: 'pods', namespace }, () => this.core.deleteNamespacedPod(params), this.retry);
      }
      return 'deleted';
    } catch (err) {
      if (err instanceof DomainError && err.kind === ErrorKind.NotFound) return 'gone';
      // The uid precondition failed: what has the name now is another object; ours is gone.
      if (ref.uid && err instanceof DomainError && err.kind === ErrorKind.AlreadyExists && /precondition|uid/i.test(err.message)) return 'gone';
      throw err;
    }
  }

  /** An object of that name that is not this instance's (hand-made, or another id) never matches any spec. */
  private describe(
    name: string,
    kind: WorkloadKind,
    instanceId: string,
    meta: V1ObjectMeta | undefined,
  ): { name: string; kind: WorkloadKind; uid: string | undefined; specHash: string | undefined } {
    const ours = meta?.annotations?.[ANNOTATION_INSTANCE_ID] === instanceId;
    return { name, kind, uid: meta?.uid, specHash: ours ? meta?.annotations?.[ANNOTATION_SPEC_HASH] : undefined };
  }

  private async getOrUndefined<T>(get: () => Promise<T>): Promise<T | undefined> {
    try {
      return await get();
    } catch (err) {
      if (err instanceof DomainError && err.kind === ErrorKind.NotFound) return undefined;
      throw err;
    }
  }
}

/**
 * Creates an instance's Service and NetworkPolicy right after its workload,
 * owned by it. A leftover of the same name that belongs to another (older)
 * workload is replaced; one already owned by this workload is kept, so a
 * retried create is harmless.
 */
import type { CoreV1Api, KubernetesObject, NetworkingV1Api, V1NetworkPolicy, V1Service } from '@kubernetes/client-node';
import type { DeploySpec } from '../../core/deploy-spec.js';
import { DomainError, ErrorKind } from '../../core/errors.js';
import type { InstanceNetworkState } from '../../core/workload-network.js';
import { abortWith } from '../../shared/kube-abort.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { networkPolicyManifest, serviceManifest, type NetworkManifestContext, type Owner } from './service-manifests.js';
import { serviceState } from './network-directory.js';

interface Kind<T extends KubernetesObject> {
  readonly resource: string;
  create(body: T, signal?: AbortSignal): Promise<T>;
  read(name: string): Promise<T>;
  delete(name: string, uid: string | undefined): Promise<unknown>;
}

export class NetworkObjects {
  private readonly services: Kind<V1Service>;
  private readonly policies: Kind<V1NetworkPolicy>;

  constructor(
    core: CoreV1Api,
    networking: NetworkingV1Api,
    private readonly ctx: NetworkManifestContext,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    const namespace = ctx.namespace;
    const precondition = (uid: string | undefined): object => (uid ? { body: { preconditions: { uid } } } : {});
    this.services = {
      resource: 'services',
      create: (body, signal) => core.createNamespacedService({ namespace, body }, signal && abortWith(signal)),
      read: (name) => core.readNamespacedService({ name, namespace }),
      delete: (name, uid) => core.deleteNamespacedService({ name, namespace, ...precondition(uid) }),
    };
    this.policies = {
      resource: 'networkpolicies',
      create: (body, signal) => networking.createNamespacedNetworkPolicy({ namespace, body }, signal && abortWith(signal)),
      read: (name) => networking.readNamespacedNetworkPolicy({ name, namespace }),
      delete: (name, uid) => networking.deleteNamespacedNetworkPolicy({ name, namespace, ...precondition(uid) }),
    };
  }

  /**
   * Both at once, right after the workload: the pod cannot have started in
   * the few milliseconds before the NetworkPolicy exists (it is not even
   * scheduled yet), and one round trip instead of two keeps Deploy fast.
   */
  async ensure(spec: DeploySpec, owner: Owner, signal?: AbortSignal): Promise<InstanceNetworkState | undefined> {
    const policy = networkPolicyManifest(spec, this.ctx, owner);
    const service = serviceManifest(spec, this.ctx, owner);
    if (!policy && !service) return undefined;
    const [, created] = await Promise.all([
      policy && this.createOwned(this.policies, policy, owner, signal),
      service && this.createOwned(this.services, service, owner, signal),
    ]);
    return {
      endpoint: created ? serviceState(created, this.ctx.namespace) : undefined,
      networkPolicy: policy?.metadata?.name ?? '',
    };
  }

  private async createOwned<T extends KubernetesObject>(kind: Kind<T>, body: T, owner: Owner, signal?: AbortSignal): Promise<T> {
    const namespace = this.ctx.namespace;
    const name = body.metadata?.name ?? '';
    const create = (): Promise<T> => withRetry({ verb: 'create', resource: kind.resource, namespace }, () => kind.create(body, signal), this.retry, signal);
    try {
      return await create();
    } catch (err) {
      if (!(err instanceof DomainError && err.kind === ErrorKind.AlreadyExists)) throw err;
    }
    const existing = await withRetry({ verb: 'get', resource: kind.resource, namespace }, () => kind.read(name), this.retry, signal);
    if (existing.metadata?.ownerReferences?.some((r) => r.uid === owner.uid)) return existing;
    // Left by an earlier workload of this name whose garbage collection has not run (yet): ours replaces it.
    await withRetry({ verb: 'delete', resource: kind.resource, namespace }, () => kind.delete(name, existing.metadata?.uid), this.retry, signal).catch(
      (err: unknown) => {
        if (!(err instanceof DomainError && (err.kind === ErrorKind.NotFound || err.kind === ErrorKind.AlreadyExists))) throw err;
      },
    );
    return create();
  }
}

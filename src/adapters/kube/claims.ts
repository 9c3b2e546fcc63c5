/**
 * Makes the PersistentVolumeClaims of an instance's claim volumes, right
 * after its workload (whose uid they name as owner).
 */
import type { CoreV1Api, V1OwnerReference } from '@kubernetes/client-node';
import type { DeploySpec } from '../../core/deploy-spec.js';
import { DomainError, ErrorKind, alreadyExists } from '../../core/errors.js';
import { abortWith } from '../../shared/kube-abort.js';
import { ANNOTATION_INSTANCE_ID, LABEL_RETAIN } from '../../shared/labels.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { claimManifest, claimName, claimVolumes } from './storage-manifests.js';

export class ClaimMaker {
  constructor(
    private readonly core: CoreV1Api,
    private readonly ctx: { readonly namespace: string; readonly selectorLabels: Readonly<Record<string, string>> },
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  names(spec: DeploySpec): string[] {
    return claimVolumes(spec).map((v) => claimName(spec.instanceId, v.name));
  }

  /**
   * Creates each claim. One that exists already is taken when it is this
   * instance's: a retained claim of an earlier deploy of the same id (its
   * data is the point of retaining it), or one this deploy made on an
   * earlier attempt. Anything else is a conflict.
   */
  async create(spec: DeploySpec, owner: V1OwnerReference, signal?: AbortSignal): Promise<string[]> {
    const namespace = this.ctx.namespace;
    const options = signal && abortWith(signal);
    const names: string[] = [];
    for (const volume of claimVolumes(spec)) {
      const body = claimManifest(spec, volume, this.ctx, owner);
      const name = body.metadata?.name ?? '';
      try {
        await withRetry(
          { verb: 'create', resource: 'persistentvolumeclaims', namespace },
          () => this.core.createNamespacedPersistentVolumeClaim({ namespace, body }, options),
          this.retry,
          signal,
        );
      } catch (err) {
        if (!(err instanceof DomainError && err.kind === ErrorKind.AlreadyExists)) throw err;
        await this.adopt(name, spec.instanceId, owner, volume.retain);
      }
      names.push(name);
    }
    return names;
  }

  private async adopt(name: string, instanceId: string, owner: V1OwnerReference, retain: boolean): Promise<void> {
    const namespace = this.ctx.namespace;
    const found = await withRetry(
      { verb: 'get', resource: 'persistentvolumeclaims', namespace },
      () => this.core.readNamespacedPersistentVolumeClaim({ name, namespace }),
      this.retry,
    );
    const meta = found.metadata;
    const ours = meta?.annotations?.[ANNOTATION_INSTANCE_ID] === instanceId;
    const terminating = meta?.deletionTimestamp !== undefined && meta?.deletionTimestamp !== null;
    const retained = meta?.labels?.[LABEL_RETAIN] === 'true';
    const sameOwner = meta?.ownerReferences?.some((o) => o.uid === owner.uid) ?? false;
    if (ours && !terminating && ((retain && retained) || sameOwner)) return;
    const why = !ours ? 'belongs to something else' : terminating ? 'is still being deleted' : 'is not a retained claim of this instance';
    throw alreadyExists(`PersistentVolumeClaim "${name}" already exists and ${why}`);
  }
}

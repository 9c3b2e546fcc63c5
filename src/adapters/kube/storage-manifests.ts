/** Pure builders for an instance's volumes: the pod's volumes and mounts, and the claims made for it. */
import type { V1OwnerReference, V1PersistentVolumeClaim, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { DeploySpec } from '../../core/deploy-spec.js';
import { ephemeralPerPod, type ClaimVolume } from '../../core/storage.js';
import {
  ANNOTATION_INSTANCE_ID,
  ANNOTATION_PROVIDER_ID,
  ANNOTATION_VOLUMES,
  LABEL_INSTANCE_ID,
  LABEL_MANAGED,
  LABEL_PROVIDER_ID,
  LABEL_RETAIN,
  LABEL_VOLUME,
} from '../../shared/labels.js';
import { labelValue, workloadName } from './naming.js';

/** The claim of one volume: "<workload name>-<volume name>" (at most 127 characters, a DNS subdomain). */
export function claimName(instanceId: string, volume: string): string {
  return `${workloadName(instanceId)}-${volume}`;
}

export function claimVolumes(spec: DeploySpec): ClaimVolume[] {
  return spec.volumes.filter((v): v is ClaimVolume => v.type === 'claim');
}

export function podVolumes(spec: DeploySpec): V1Volume[] {
  return spec.volumes.map((v) =>
    v.type === 'emptyDir'
      ? { name: v.name, emptyDir: { sizeLimit: String(v.sizeBytes) } }
      : { name: v.name, persistentVolumeClaim: { claimName: claimName(spec.instanceId, v.name), ...(v.readOnly ? { readOnly: true } : {}) } },
  );
}

export function volumeMounts(spec: DeploySpec): V1VolumeMount[] {
  return spec.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath, ...(v.readOnly ? { readOnly: true } : {}) }));
}

/**
 * The container's ephemeral-storage, equal to its emptyDir limits, so the
 * scheduler places the pod where that much node disk is free; undefined
 * when it has no emptyDir.
 */
export function ephemeralStorageQuantity(spec: DeploySpec): string | undefined {
  const n = ephemeralPerPod(spec.volumes);
  return n > 0 ? String(n) : undefined;
}

/** What the status shows after a restart: the volumes as validated. */
export function volumesAnnotation(spec: DeploySpec): Record<string, string> {
  return spec.volumes.length > 0 ? { [ANNOTATION_VOLUMES]: JSON.stringify(spec.volumes) } : {};
}

/**
 * A claim for one volume. Unless retained it is owned by the workload, so
 * the garbage collector removes it with the workload however that goes
 * (Undeploy, clean-up, kubectl). A retained claim has no owner.
 */
export function claimManifest(
  spec: DeploySpec,
  volume: ClaimVolume,
  ctx: { readonly namespace: string; readonly selectorLabels: Readonly<Record<string, string>> },
  owner: V1OwnerReference | undefined,
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: claimName(spec.instanceId, volume.name),
      namespace: ctx.namespace,
      labels: {
        ...spec.labels,
        ...ctx.selectorLabels,
        [LABEL_MANAGED]: 'true',
        [LABEL_PROVIDER_ID]: labelValue(spec.providerId),
        [LABEL_INSTANCE_ID]: labelValue(spec.instanceId),
        [LABEL_VOLUME]: volume.name,
        ...(volume.retain ? { [LABEL_RETAIN]: 'true' } : {}),
      },
      annotations: { [ANNOTATION_INSTANCE_ID]: spec.instanceId, [ANNOTATION_PROVIDER_ID]: spec.providerId },
      ...(owner && !volume.retain ? { ownerReferences: [owner] } : {}),
    },
    spec: {
      accessModes: [volume.accessMode],
      resources: { requests: { storage: String(volume.sizeBytes) } },
      ...(volume.storageClass ? { storageClassName: volume.storageClass } : {}),
    },
  };
}

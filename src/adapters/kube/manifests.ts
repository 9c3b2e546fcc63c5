/** Pure builders for the objects the daemon creates. */
import type { V1Container, V1Deployment, V1Job, V1ObjectMeta, V1Pod, V1PodSecurityContext, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';
import { MAIN_CONTAINER } from '../../core/instances.js';
import type { DeploySpec } from '../../core/deploy-spec.js';
import {
  ANNOTATION_CLEANUP_POLICY,
  ANNOTATION_INSTANCE_ID,
  ANNOTATION_PROVIDER_ID,
  ANNOTATION_SPEC_HASH,
  GPU_RESOURCE,
  LABEL_INSTANCE_ID,
  LABEL_MANAGED,
  LABEL_PROVIDER_ID,
} from '../../shared/labels.js';
import { labelValue, workloadName } from './naming.js';
import { schedulingFields } from './scheduling-manifest.js';
import { ephemeralStorageQuantity, podVolumes, volumeMounts, volumesAnnotation } from './storage-manifests.js';

/** workloads.security from the config: how every deployed pod is locked down. */
export interface WorkloadSecurity {
  readonly run_as_non_root: boolean;
  /** null: the image's own user. */
  readonly run_as_user: number | null;
  readonly allow_privilege_escalation: boolean;
  readonly privileged: boolean;
  readonly drop_all_capabilities: boolean;
  readonly seccomp_profile: 'RuntimeDefault' | 'Unconfined';
  readonly automount_service_account_token: boolean;
  readonly enable_service_links: boolean;
}

/** The defaults of workloads.security: what the restricted Pod Security level admits. */
export const RESTRICTED: WorkloadSecurity = {
  run_as_non_root: true,
  run_as_user: 65532,
  allow_privilege_escalation: false,
  privileged: false,
  drop_all_capabilities: true,
  seccomp_profile: 'RuntimeDefault',
  automount_service_account_token: false,
  enable_service_links: false,
};

export interface ManifestContext {
  readonly namespace: string;
  /** Labels from kubernetes.label_selector: every workload carries them so the watches see it. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly security: WorkloadSecurity;
}

export function resourceList(spec: DeploySpec): Record<string, string> {
  const list: Record<string, string> = {
    cpu: `${spec.resources.cpu}m`,
    memory: String(spec.resources.memory),
  };
  if (spec.resources.gpu > 0) list[GPU_RESOURCE] = String(spec.resources.gpu);
  const ephemeral = ephemeralStorageQuantity(spec);
  if (ephemeral !== undefined) list['ephemeral-storage'] = ephemeral;
  return list;
}

export function metadata(spec: DeploySpec, ctx: ManifestContext, extraAnnotations: Record<string, string> = {}): V1ObjectMeta {
  return {
    name: workloadName(spec.instanceId),
    namespace: ctx.namespace,
    labels: {
      ...spec.labels,
      ...ctx.selectorLabels,
      [LABEL_MANAGED]: 'true',
      [LABEL_PROVIDER_ID]: labelValue(spec.providerId),
      [LABEL_INSTANCE_ID]: labelValue(spec.instanceId),
    },
    annotations: {
      ...spec.annotations,
      [ANNOTATION_INSTANCE_ID]: spec.instanceId,
      [ANNOTATION_PROVIDER_ID]: spec.providerId,
      [ANNOTATION_SPEC_HASH]: spec.specHash,
      ...volumesAnnotation(spec),
      ...extraAnnotations,
    },
  };
}

/**
 * Every field is written out, true or false, so what a pod may do reads
 * off the object itself and never depends on a cluster's defaults.
 */
export function containerSecurityContext(security: WorkloadSecurity): V1SecurityContext {
  return {
    allowPrivilegeEscalation: security.allow_privilege_escalation,
    privileged: security.privileged,
    ...(security.drop_all_capabilities ? { capabilities: { drop: ['ALL'] } } : {}),
  };
}

export function podSecurityContext(security: WorkloadSecurity): V1PodSecurityContext {
  return {
    runAsNonRoot: security.run_as_non_root,
    ...(security.run_as_user !== null ? { runAsUser: security.run_as_user } : {}),
    seccompProfile: { type: security.seccomp_profile },
  };
}

function container(spec: DeploySpec, security: WorkloadSecurity): V1Container {
  const resources = resourceList(spec);
  const c: V1Container = {
    name: MAIN_CONTAINER,
    image: spec.image,
    imagePullPolicy: 'IfNotPresent',
    // Requests = limits: the ledger counts requests, and a workload must not grow past what was admitted.
    resources: { requests: resources, limits: { ...resources } },
    securityContext: containerSecurityContext(security),
  };
  if (spec.command.length > 0) c.command = [...spec.command];
  if (spec.args.length > 0) c.args = [...spec.args];
  const env = Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (env.length > 0) c.env = env.map(([name, value]) => ({ name, value }));
  if (spec.ports.length > 0) {
    c.ports = spec.ports.map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, ...(p.name ? { name: p.name } : {}) }));
  }
  if (spec.volumes.length > 0) c.volumeMounts = volumeMounts(spec);
  return c;
}

export function podSpec(
  spec: DeploySpec,
  ctx: ManifestContext,
  activeDeadlineSeconds: number | undefined,
  restartPolicy: 'Never' | 'Always' = 'Never',
): V1PodSpec {
  const security = ctx.security;
  const s: V1PodSpec = {
    restartPolicy,
    // Components never call the Kubernetes API, and must not see the namespace's
    // services as environment variables (which also collide with their own env).
    automountServiceAccountToken: security.automount_service_account_token,
    enableServiceLinks: security.enable_service_links,
    securityContext: podSecurityContext(security),
    containers: [container(spec, security)],
  };
  if (activeDeadlineSeconds !== undefined) s.activeDeadlineSeconds = activeDeadlineSeconds;
  if (Object.keys(spec.nodeSelector).length > 0) s.nodeSelector = { ...spec.nodeSelector };
  if (spec.tolerations.length > 0) s.tolerations = spec.tolerations.map((t) => ({ ...t }));
  if (spec.volumes.length > 0) {
    s.volumes = podVolumes(spec);
    // Volumes are owned by the pod's group, so the non-root user can write to them.
    if (security.run_as_user !== null) s.securityContext = { ...s.securityContext, fsGroup: security.run_as_user };
  }
  if (spec.scheduling) Object.assign(s, schedulingFields(spec.scheduling, ctx.selectorLabels));
  return s;
}

/** A long-running component: one Pod, never restarted by Kubernetes (the control plane decides). */
export function podManifest(spec: DeploySpec, ctx: ManifestContext): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: metadata(spec, ctx), spec: podSpec(spec, ctx, spec.timeoutSeconds) };
}

/**
 * A batch task. The deadline bounds the whole Job; cleanup "Always" uses the
 * TTL controller so it happens even while the daemon is down, the other
 * policies are enforced by the daemon's reconciler, which knows the outcome.
 */
export function jobManifest(spec: DeploySpec, ctx: ManifestContext): V1Job {
  const policy = spec.cleanupPolicy ?? 'OnSuccess';
  const meta = metadata(spec, ctx, { [ANNOTATION_CLEANUP_POLICY]: policy });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta,
    spec: {
      ...(spec.timeoutSeconds !== undefined ? { activeDeadlineSeconds: spec.timeoutSeconds } : {}),
      backoffLimit: spec.backoffLimit ?? 0,
      ...(policy === 'Always' ? { ttlSecondsAfterFinished: 0 } : {}),
      template: {
        metadata: { labels: { ...meta.labels }, annotations: { ...meta.annotations } },
        spec: podSpec(spec, ctx, undefined),
      },
    },
  };
}

/** The selector of a Deployment's pods: immutable, so only what never changes for the instance. */
export function deploymentSelector(spec: DeploySpec, ctx: ManifestContext): Record<string, string> {
  return { ...ctx.selectorLabels, [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: labelValue(spec.instanceId) };
}

/**
 * A kept-alive component: the ReplicaSet controller restarts its containers
 * and recreates its pods (on another node when one is lost). Recreate, since
 * the daemon never changes the template: a rollout would only run more pods
 * than were admitted, and two pods on one ReadWriteOnce claim.
 */
export function deploymentManifest(spec: DeploySpec, ctx: ManifestContext): V1Deployment {
  const meta = metadata(spec, ctx);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      replicas: spec.replicas ?? 1,
      selector: { matchLabels: deploymentSelector(spec, ctx) },
      strategy: { type: 'Recreate' },
      revisionHistoryLimit: 1,
      template: {
        metadata: { labels: { ...meta.labels }, annotations: { ...meta.annotations } },
        spec: podSpec(spec, ctx, undefined, 'Always'),
      },
    },
  };
}

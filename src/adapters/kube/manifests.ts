/** Pure builders for the objects the daemon creates. */
import type { V1Container, V1Job, V1ObjectMeta, V1Pod, V1PodSpec } from '@kubernetes/client-node';
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

export interface ManifestContext {
  readonly namespace: string;
  /** Labels from kubernetes.label_selector: every workload carries them so the watches see it. */
  readonly selectorLabels: Readonly<Record<string, string>>;
}

export function resourceList(spec: DeploySpec): Record<string, string> {
  const list: Record<string, string> = {
    cpu: `${spec.resources.cpu}m`,
    memory: String(spec.resources.memory),
  };
  if (spec.resources.gpu > 0) list[GPU_RESOURCE] = String(spec.resources.gpu);
  return list;
}

function metadata(spec: DeploySpec, ctx: ManifestContext, extraAnnotations: Record<string, string> = {}): V1ObjectMeta {
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
      ...extraAnnotations,
    },
  };
}

function container(spec: DeploySpec): V1Container {
  const resources = resourceList(spec);
  const c: V1Container = {
    name: MAIN_CONTAINER,
    image: spec.image,
    imagePullPolicy: 'IfNotPresent',
    // Requests = limits: the ledger counts requests, and a workload must not grow past what was admitted.
    resources: { requests: resources, limits: { ...resources } },
  };
  if (spec.command.length > 0) c.command = [...spec.command];
  if (spec.args.length > 0) c.args = [...spec.args];
  const env = Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (env.length > 0) c.env = env.map(([name, value]) => ({ name, value }));
  if (spec.ports.length > 0) {
    c.ports = spec.ports.map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, ...(p.name ? { name: p.name } : {}) }));
  }
  return c;
}

function podSpec(spec: DeploySpec, activeDeadlineSeconds: number | undefined): V1PodSpec {
  const s: V1PodSpec = { restartPolicy: 'Never', containers: [container(spec)] };
  if (activeDeadlineSeconds !== undefined) s.activeDeadlineSeconds = activeDeadlineSeconds;
  if (Object.keys(spec.nodeSelector).length > 0) s.nodeSelector = { ...spec.nodeSelector };
  if (spec.tolerations.length > 0) s.tolerations = spec.tolerations.map((t) => ({ ...t }));
  return s;
}

/** A long-running component: one Pod, never restarted by Kubernetes (the control plane decides). */
export function podManifest(spec: DeploySpec, ctx: ManifestContext): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: metadata(spec, ctx), spec: podSpec(spec, spec.timeoutSeconds) };
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
        spec: podSpec(spec, undefined),
      },
    },
  };
}

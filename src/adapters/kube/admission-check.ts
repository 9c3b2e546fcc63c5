/**
 * A Job's (or Deployment's) pods are created later by its controller, so an admission
 * plugin refusing them (a full ResourceQuota, an unknown PriorityClass)
 * would leave a Job that never runs while Deploy reported success. A
 * server-side dry-run create of the pod the Job will make asks the same
 * admission chain first; nothing is stored.
 */
import type { CoreV1Api, V1ObjectMeta, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { abortWith } from '../../shared/kube-abort.js';
import { withRetry, type RetryPolicy } from './retry.js';

/** A Job or a Deployment: an object whose controller makes pods from a template. */
interface PodTemplateOwner {
  readonly metadata?: V1ObjectMeta | undefined;
  readonly spec?: { readonly template?: V1PodTemplateSpec | undefined } | undefined;
}

/** The pod the controller will create from the template, as far as admission cares. */
export function jobPodProbe(job: PodTemplateOwner): V1Pod {
  const template = job.spec?.template;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${job.metadata?.name ?? 'job'}-`,
      namespace: job.metadata?.namespace,
      labels: template?.metadata?.labels,
      annotations: template?.metadata?.annotations,
    },
    spec: template?.spec ?? { containers: [] },
  };
}

/** Throws the mapped refusal (RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ...) when admission would refuse the workload's pod. */
export async function checkJobPodAdmission(core: CoreV1Api, job: PodTemplateOwner, retry: RetryPolicy, signal?: AbortSignal): Promise<void> {
  const namespace = job.metadata?.namespace ?? 'default';
  const options = signal && abortWith(signal);
  await withRetry(
    { verb: 'create', resource: 'pods', namespace },
    () => core.createNamespacedPod({ namespace, body: jobPodProbe(job), dryRun: 'All' }, options),
    retry,
    signal,
  );
}

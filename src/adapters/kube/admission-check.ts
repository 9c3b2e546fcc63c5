/**
 * A Job's pods are created later by the Job controller, so an admission
 * plugin refusing them (a full ResourceQuota, an unknown PriorityClass)
 * would leave a Job that never runs while Deploy reported success. A
 * server-side dry-run create of the pod the Job will make asks the same
 * admission chain first; nothing is stored.
 */
import type { CoreV1Api, V1Job, V1Pod } from '@kubernetes/client-node';
import { abortWith } from '../../shared/kube-abort.js';
import { withRetry, type RetryPolicy } from './retry.js';

/** The pod the Job controller will create from the template, as far as admission cares. */
export function jobPodProbe(job: V1Job): V1Pod {
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

/** Throws the mapped refusal (RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ...) when admission would refuse the Job's pod. */
export async function checkJobPodAdmission(core: CoreV1Api, job: V1Job, retry: RetryPolicy, signal?: AbortSignal): Promise<void> {
  const namespace = job.metadata?.namespace ?? 'default';
  const options = signal && abortWith(signal);
  await withRetry(
    { verb: 'create', resource: 'pods', namespace },
    () => core.createNamespacedPod({ namespace, body: jobPodProbe(job), dryRun: 'All' }, options),
    retry,
    signal,
  );
}

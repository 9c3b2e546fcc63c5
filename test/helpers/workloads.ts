/** Clean-up of what a test deployed, for tests whose pods would otherwise outlive them. */
import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { makeKubeConfig, waitFor } from './cluster.js';

/**
 * Deletes the pods (and Jobs and Deployments) a test made in `namespace` and waits until they
 * are gone, so their release does not shift cluster-wide figures (auto mode's
 * capacity) under the next test file.
 */
export async function removeWorkloads(namespace: string): Promise<void> {
  const kc = makeKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  await kc.makeApiClient(BatchV1Api).deleteCollectionNamespacedJob({ namespace, propagationPolicy: 'Background' });
  await kc.makeApiClient(AppsV1Api).deleteCollectionNamespacedDeployment({ namespace, propagationPolicy: 'Background' });
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
  await waitFor(`the pods in ${namespace} to be gone`, async () => (await core.listNamespacedPod({ namespace })).items.length === 0, { timeoutMs: 60_000 });
}

/**
 * `pods`: the managed workloads as the cluster sees them, read with the
 * operator's own kubeconfig. Independent of the daemon on purpose: it is what
 * an operator checks when the daemon's answers look wrong.
 */
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { loadKubeConfig } from '../adapters/kube/client.js';
import { ANNOTATION_PROVIDER_ID, LABEL_MANAGED, LABEL_PROVIDER_ID } from '../shared/labels.js';
import { jobOutcome, observeDeployment, observeJob, observePod } from '../adapters/kube/observe.js';
import type { Amounts } from './format.js';

export interface WorkloadRow {
  readonly namespace: string;
  readonly kind: 'Pod' | 'Job' | 'Deployment';
  readonly name: string;
  readonly instanceId: string;
  readonly providerId: string;
  /** Pods: their phase (Terminating while being deleted). Jobs: Active, Complete, Failed or Pending. Deployments: "READY/REPLICAS ready". */
  readonly phase: string;
  readonly requests: Amounts;
  /** Pods that a Job runs name it here; a Deployment's pods name the Deployment. */
  readonly job: string | undefined;
  readonly node: string | undefined;
  readonly createdAt: number | undefined; // ms since epoch
}

/** The exact provider id from our annotation; the label may be a sanitised form of it. */
/** What every row reads from the object's metadata alike. */
function metadataFields(meta: V1Pod['metadata']): Pick<WorkloadRow, 'namespace' | 'providerId' | 'createdAt'> {
  return {
    namespace: meta?.namespace ?? '',
    providerId: meta?.annotations?.[ANNOTATION_PROVIDER_ID] ?? meta?.labels?.[LABEL_PROVIDER_ID] ?? '',
    createdAt: meta?.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : undefined,
  };
}

export function podRow(pod: V1Pod): WorkloadRow {
  const seen = observePod(pod);
  return {
    ...metadataFields(pod.metadata),
    kind: 'Pod',
    name: seen.name,
    instanceId: seen.instanceId,
    phase: seen.terminating ? 'Terminating' : seen.phase,
    requests: seen.requests,
    job: seen.jobName,
    node: pod.spec?.nodeName,
  };
}

export function jobRow(job: V1Job): WorkloadRow {
  const seen = observeJob(job);
  const outcome = jobOutcome(job);
  return {
    ...metadataFields(job.metadata),
    kind: 'Job',
    name: seen.name,
    instanceId: seen.instanceId,
    phase: outcome ?? ((job.status?.active ?? 0) > 0 ? 'Active' : 'Pending'),
    requests: seen.podRequests,
    job: undefined,
    node: undefined,
  };
}

/** A Deployment: its pod template's requests (per replica), and how many replicas are ready. */
export function deploymentRow(d: V1Deployment): WorkloadRow {
  const seen = observeDeployment(d);
  return {
    ...metadataFields(d.metadata),
    kind: 'Deployment',
    name: seen.name,
    instanceId: seen.instanceId,
    phase: `${seen.readyReplicas}/${seen.replicas} ready`,
    requests: seen.podRequests,
    job: undefined,
    node: undefined,
  };
}

export interface PodsQuery {
  readonly kubeconfig: string | undefined;
  readonly namespace: string | undefined;
  readonly allNamespaces: boolean;
}

export function kubeConfigFor(query: PodsQuery): KubeConfig {
  return loadKubeConfig({ kubeconfig: query.kubeconfig ?? '', inCluster: false }).kubeConfig;
}

/** Jobs and Deployments first, each followed by its pods; then standalone pods; by name within each. */
export async function listWorkloads(kc: KubeConfig, query: PodsQuery): Promise<{ namespace: string | undefined; rows: WorkloadRow[] }> {
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const labelSelector = `${LABEL_MANAGED}=true`;
  const namespace = query.allNamespaces ? undefined : (query.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default');
  const apps = kc.makeApiClient(AppsV1Api);
  const [pods, jobs, deployments] = namespace
    ? await Promise.all([
        core.listNamespacedPod({ namespace, labelSelector }),
        batch.listNamespacedJob({ namespace, labelSelector }),
        apps.listNamespacedDeployment({ namespace, labelSelector }),
      ])
    : await Promise.all([
        core.listPodForAllNamespaces({ labelSelector }),
        batch.listJobForAllNamespaces({ labelSelector }),
        apps.listDeploymentForAllNamespaces({ labelSelector }),
      ]);
  const byName = (a: WorkloadRow, b: WorkloadRow): number => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
  const podRows = pods.items.map((p) => {
    const row = podRow(p);
    // A Deployment's pod is owned by its ReplicaSet; the instance id ties it to the Deployment.
    const ofDeployment = observePod(p).ownerKind === 'ReplicaSet';
    const owner = ofDeployment
      ? deployments.items.find((d) => d.metadata?.namespace === row.namespace && observeDeployment(d).instanceId === row.instanceId)?.metadata?.name
      : undefined;
    return owner ? { ...row, job: owner } : row;
  });
  podRows.sort(byName);
  const rows: WorkloadRow[] = [];
  const owners = [...jobs.items.map(jobRow), ...deployments.items.map(deploymentRow)].sort(byName);
  for (const owner of owners) {
    rows.push(owner, ...podRows.filter((p) => p.job === owner.name && p.namespace === owner.namespace));
  }
  rows.push(...podRows.filter((p) => !rows.includes(p)));
  return { namespace, rows };
}

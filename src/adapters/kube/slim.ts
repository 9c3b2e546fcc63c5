/**
 * What the informers keep of each Pod, Job, Deployment and PersistentVolumeClaim:
 * only the fields the books, the instance lifecycle and resource.mode auto
 * read (observe.ts, auto-capacity.ts).
 * A pod as the API serves it is about 3.6 KB of JSON, most of it
 * managedFields, volumes, env, tolerations and security settings; at 10,000
 * pods the whole objects were most of the daemon's memory and of its start-up
 * (parsing them, turning them into client-node's model classes, collecting
 * the garbage). Pure functions over the JSON as it arrives (list or watch).
 *
 * Whoever reads a new field of a cached object adds it here; the unit
 * test compares what observe.ts derives from a full object and from its slim
 * copy, so a field dropped here that observe.ts reads fails it.
 */
import type { V1Container, V1Deployment, V1Job, V1ObjectMeta, V1PersistentVolumeClaim, V1Pod, V1PodSpec, V1Volume } from '@kubernetes/client-node';

/** Copies the listed keys that are present (not undefined), nothing else. */
function pick<T extends object, K extends keyof T>(o: T | undefined, keys: readonly K[]): Pick<T, K> | undefined {
  if (!o) return undefined;
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** kubectl apply's copy of the whole manifest: large, and nothing here reads it. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function slimMeta(m: V1ObjectMeta | undefined): V1ObjectMeta | undefined {
  if (!m) return undefined;
  const out = pick(m, ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'labels', 'annotations']) as V1ObjectMeta;
  if (m.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _dropped, ...rest } = m.annotations;
    out.annotations = rest;
  }
  if (m.ownerReferences) out.ownerReferences = m.ownerReferences.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid }));
  return out;
}

function slimContainer(c: V1Container): V1Container {
  return pick(c, ['name', 'image', 'resources']) as V1Container;
}

function slimPodSpec(s: V1PodSpec | undefined): V1PodSpec | undefined {
  if (!s) return undefined;
  // The scheduling fields feed the instance's placement summary (observe.ts, placement-summary.ts).
  const out = pick(s, ['nodeName', 'overhead', 'priorityClassName', 'nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints']) as V1PodSpec;
  out.containers = (s.containers ?? []).map(slimContainer);
  if (s.initContainers) out.initContainers = s.initContainers.map(slimContainer);
  // The emptyDir size limits are the pod's ephemeral storage in the storage books; the other
  // volumes (the service account token's projection above all) are left out.
  const emptyDirs = (s.volumes ?? []).filter((v) => v.emptyDir).map((v): V1Volume => ({ name: v.name, emptyDir: pick(v.emptyDir, ['sizeLimit']) }));
  if (emptyDirs.length > 0) out.volumes = emptyDirs;
  return out;
}

export function slimPod(pod: V1Pod): V1Pod {
  const status = pod.status;
  return {
    ...pick(pod, ['apiVersion', 'kind']),
    metadata: slimMeta(pod.metadata),
    spec: slimPodSpec(pod.spec),
    status: status && {
      ...pick(status, ['phase', 'reason', 'message', 'podIP', 'startTime']),
      ...(status.conditions ? { conditions: status.conditions.map((c) => pick(c, ['type', 'status', 'reason', 'message', 'lastTransitionTime'])) } : {}),
      ...(status.containerStatuses ? { containerStatuses: status.containerStatuses.map((c) => pick(c, ['name', 'ready', 'restartCount', 'state'])) } : {}),
    },
  } as V1Pod;
}

export function slimJob(job: V1Job): V1Job {
  const template = job.spec?.template;
  return {
    ...pick(job, ['apiVersion', 'kind']),
    metadata: slimMeta(job.metadata),
    spec: job.spec && { template: { spec: slimPodSpec(template?.spec) } },
    status: job.status && {
      ...pick(job.status, ['startTime', 'completionTime', 'failed']),
      ...(job.status.conditions
        ? { conditions: job.status.conditions.map((c) => pick(c, ['type', 'status', 'reason', 'message', 'lastTransitionTime'])) }
        : {}),
    },
  } as V1Job;
}

export function slimDeployment(d: V1Deployment): V1Deployment {
  return {
    ...pick(d, ['apiVersion', 'kind']),
    metadata: slimMeta(d.metadata),
    spec: d.spec && { ...pick(d.spec, ['replicas', 'selector']), template: { spec: slimPodSpec(d.spec.template?.spec) } },
    status: d.status && pick(d.status, ['readyReplicas']),
  } as V1Deployment;
}

export function slimClaim(c: V1PersistentVolumeClaim): V1PersistentVolumeClaim {
  return {
    ...pick(c, ['apiVersion', 'kind']),
    metadata: slimMeta(c.metadata),
    spec: c.spec && {
      ...pick(c.spec, ['storageClassName']),
      ...(c.spec.resources?.requests?.storage !== undefined ? { resources: { requests: { storage: c.spec.resources.requests.storage } } } : {}),
    },
    status: c.status && {
      ...pick(c.status, ['phase']),
      ...(c.status.capacity?.storage !== undefined ? { capacity: { storage: c.status.capacity.storage } } : {}),
    },
  } as V1PersistentVolumeClaim;
}

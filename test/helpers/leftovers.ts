/**
 * What an instance left behind in a namespace, for the tests of Undeploy:
 * every kind the daemon creates (Pod, Job, Deployment, Service,
 * NetworkPolicy, PersistentVolumeClaim) or causes a controller to create
 * (ReplicaSet, the Job's and the ReplicaSet's pods, EndpointSlice).
 *
 * An object counts when it carries the daemon's instance label for one of
 * the instances, or when it is owned (directly or through its owners) by
 * one of the given uids: a dependent whose ownerReference the garbage
 * collector cannot resolve keeps its labels, but one made by a controller
 * may not carry them, so both ways are looked at.
 */
import { AppsV1Api, BatchV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api, type V1ObjectMeta } from '@kubernetes/client-node';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';
import { makeKubeConfig } from './cluster.js';

export interface LeftoverQuery {
  /** Instance ids as the daemon labels them (the test ids are valid label values). */
  readonly instanceIds: readonly string[];
  /** uids of the instances' workloads (and anything else whose dependents must be gone). */
  readonly ownerUids?: readonly string[];
}

type Listed = { kind: string; meta: V1ObjectMeta };

async function listAll(namespace: string): Promise<Listed[]> {
  const kc = makeKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const of = (kind: string, list: { items: { metadata?: V1ObjectMeta }[] }): Listed[] => list.items.map((o) => ({ kind, meta: o.metadata ?? {} }));
  const lists = await Promise.all([
    core.listNamespacedPod({ namespace }).then((l) => of('Pod', l)),
    batch.listNamespacedJob({ namespace }).then((l) => of('Job', l)),
    apps.listNamespacedDeployment({ namespace }).then((l) => of('Deployment', l)),
    apps.listNamespacedReplicaSet({ namespace }).then((l) => of('ReplicaSet', l)),
    core.listNamespacedService({ namespace }).then((l) => of('Service', l)),
    discovery.listNamespacedEndpointSlice({ namespace }).then((l) => of('EndpointSlice', l)),
    networking.listNamespacedNetworkPolicy({ namespace }).then((l) => of('NetworkPolicy', l)),
    core.listNamespacedPersistentVolumeClaim({ namespace }).then((l) => of('PersistentVolumeClaim', l)),
  ]);
  return lists.flat();
}

/** `Kind/name` of every object of the instances still in the namespace, sorted. */
export async function leftovers(namespace: string, query: LeftoverQuery): Promise<string[]> {
  const all = await listAll(namespace);
  const ids = new Set(query.instanceIds);
  const owners = new Set(query.ownerUids ?? []);
  const found = new Set<Listed>();
  const byLabel = (o: Listed): boolean => ids.has(o.meta.labels?.[LABEL_INSTANCE_ID] ?? '');
  const byOwner = (o: Listed): boolean => o.meta.ownerReferences?.some((r) => owners.has(r.uid)) ?? false;
  // Owned through owners: a Deployment's ReplicaSet's pods, a Service's EndpointSlices.
  for (let grew = true; grew; ) {
    grew = false;
    for (const o of all) {
      if (found.has(o) || !(byLabel(o) || byOwner(o))) continue;
      found.add(o);
      if (o.meta.uid) owners.add(o.meta.uid);
      grew = true;
    }
  }
  return [...found].map((o) => `${o.kind}/${o.meta.name}`).sort();
}

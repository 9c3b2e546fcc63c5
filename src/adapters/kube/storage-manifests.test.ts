import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { validateDeploy } from '../../core/deploy-spec.js';
import { deploymentManifest, podManifest, RESTRICTED } from './manifests.js';
import { claimManifest, claimVolumes } from './storage-manifests.js';
import { observeClaim, observeDeployment, observePod } from './observe.js';

const GiB = 2 ** 30;
const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const ctx = { namespace: 'work', selectorLabels: { team: 'a' }, security: RESTRICTED };
const spec = validateDeploy(
  {
    instanceId: 'db',
    providerId: 'cp',
    image: 'postgres',
    resources: { cpu: 500, memory: 256 * 2 ** 20, gpu: 0 },
    env: {},
    workload: {
      kind: 'Deployment',
      replicas: 2,
      volumes: [
        { name: 'scratch', mountPath: '/tmp/work', readOnly: false, emptyDir: { sizeLimitBytes: GiB } },
        { name: 'data', mountPath: '/data', readOnly: false, claim: { storageClass: 'fast', sizeBytes: 10 * GiB, accessMode: 'ReadWriteMany', retain: false } },
        { name: 'seed', mountPath: '/seed', readOnly: true, claim: { storageClass: '', sizeBytes: GiB, accessMode: '', retain: true } },
      ],
    },
  },
  defaults,
);
const labels = { team: 'a', 'iarnet.managed': 'true', 'iarnet.provider_id': 'cp', 'iarnet.instance_id': 'db' };

describe('deploymentManifest', () => {
  it('builds a Deployment that restarts its pods, with the volumes mounted and emptyDir limits requested', () => {
    const d = deploymentManifest(spec, ctx);
    const resources = { cpu: '500m', memory: String(256 * 2 ** 20), 'ephemeral-storage': String(GiB) };
    expect(d.metadata).toEqual({
      name: 'db',
      namespace: 'work',
      labels,
      annotations: {
        'iarnet.instance_id': 'db',
        'iarnet.provider_id': 'cp',
        'iarnet.spec_hash': spec.specHash,
        'iarnet.volumes': JSON.stringify(spec.volumes),
      },
    });
    expect(d.spec).toMatchObject({
      replicas: 2,
      selector: { matchLabels: { team: 'a', 'iarnet.managed': 'true', 'iarnet.instance_id': 'db' } },
      strategy: { type: 'Recreate' },
      template: { metadata: { labels, annotations: d.metadata!.annotations } },
    });
    const pod = d.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Always');
    expect(pod.activeDeadlineSeconds).toBeUndefined();
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' }, fsGroup: 65532 });
    expect(pod.volumes).toEqual([
      { name: 'scratch', emptyDir: { sizeLimit: String(GiB) } },
      { name: 'data', persistentVolumeClaim: { claimName: 'db-data' } },
      { name: 'seed', persistentVolumeClaim: { claimName: 'db-seed', readOnly: true } },
    ]);
    expect(pod.containers[0]!.volumeMounts).toEqual([
      { name: 'scratch', mountPath: '/tmp/work' },
      { name: 'data', mountPath: '/data' },
      { name: 'seed', mountPath: '/seed', readOnly: true },
    ]);
    expect(pod.containers[0]!.resources).toEqual({ requests: resources, limits: resources });
  });

  it('leaves a pod without volumes exactly as before', () => {
    const plain = validateDeploy({ instanceId: 'p', providerId: 'cp', image: 'busybox', resources: { cpu: 1, memory: 1, gpu: 0 }, env: {} }, defaults);
    const pod = podManifest(plain, ctx);
    expect(pod.spec!.volumes).toBeUndefined();
    expect(pod.spec!.securityContext!.fsGroup).toBeUndefined();
    expect(pod.metadata!.annotations!['iarnet.volumes']).toBeUndefined();
    expect(pod.spec!.containers[0]!.resources!.requests).toEqual({ cpu: '1m', memory: '1' });
  });
});

describe('claimManifest', () => {
  const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'db', uid: 'u-1' };
  const [data, seed] = claimVolumes(spec);

  it('makes a labelled claim owned by the workload', () => {
    expect(claimManifest(spec, data!, ctx, owner)).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'db-data',
        namespace: 'work',
        labels: { ...labels, 'iarnet.volume': 'data' },
        annotations: { 'iarnet.instance_id': 'db', 'iarnet.provider_id': 'cp' },
        ownerReferences: [owner],
      },
      spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: String(10 * GiB) } }, storageClassName: 'fast' },
    });
  });

  it('gives a retained claim no owner, and leaves the class to the cluster when none is named', () => {
    const claim = claimManifest(spec, seed!, ctx, owner);
    expect(claim.metadata!.ownerReferences).toBeUndefined();
    expect(claim.metadata!.labels).toMatchObject({ 'iarnet.retain': 'true', 'iarnet.volume': 'seed' });
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: String(GiB) } } });
  });
});

describe('observeDeployment / observeClaim', () => {
  it('reads replicas, the template requests and volumes back from what the API server stores', () => {
    const stored = { ...deploymentManifest(spec, ctx), status: { readyReplicas: 1 } } as V1Deployment;
    expect(observeDeployment(stored)).toMatchObject({
      name: 'db',
      instanceId: 'db',
      replicas: 2,
      readyReplicas: 1,
      podRequests: { cpu: 500, memory: 256 * 2 ** 20, gpu: 0 },
      podEphemeralStorage: GiB,
      specHash: spec.specHash,
      volumes: spec.volumes,
    });
    const pod = {
      metadata: {
        name: 'db-abc',
        labels,
        annotations: stored.metadata!.annotations,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'db-x', uid: 'r' }],
      },
      spec: stored.spec!.template.spec!,
      status: { phase: 'Running' },
    };
    expect(observePod(pod)).toMatchObject({ ownerKind: 'ReplicaSet', ephemeralStorage: GiB, instanceId: 'db' });
  });

  it('counts a claim at the larger of what it asked for and what it got', () => {
    const stored = {
      ...claimManifest(spec, claimVolumes(spec)[0]!, ctx, undefined),
      status: { phase: 'Bound', capacity: { storage: '12Gi' } },
    } as V1PersistentVolumeClaim;
    expect(observeClaim(stored)).toEqual({
      name: 'db-data',
      instanceId: 'db',
      volume: 'data',
      sizeBytes: 12 * GiB,
      storageClass: 'fast',
      phase: 'Bound',
      retain: false,
      terminating: false,
    });
  });
});

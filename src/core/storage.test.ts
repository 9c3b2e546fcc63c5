import { describe, expect, it } from 'vitest';
import { validateDeploy } from './deploy-spec.js';
import { deriveInstances, type ObservedWorkloads } from './instances.js';
import { normaliseVolumes, storageHeld, storageNeed, storageReport, storageShortfall } from './storage.js';

const GiB = 2 ** 30;
const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const base = { instanceId: 'comp-1', providerId: 'cp', image: 'busybox', resources: { cpu: 500, memory: 1048576, gpu: 0 }, env: { A: '1' } };
const req = { cpu: 100, memory: 1, gpu: 0 };

describe('volumes', () => {
  it('normalises claims with the default class and access mode', () => {
    const problems: string[] = [];
    const volumes = normaliseVolumes(
      [{ name: 'data', mountPath: '/data', readOnly: false, claim: { storageClass: '', sizeBytes: GiB, accessMode: '', retain: true } }],
      { defaultClass: 'fast', allowedClasses: [] },
      1,
      problems,
    );
    expect(problems).toEqual([]);
    expect(volumes).toEqual([
      { type: 'claim', name: 'data', mountPath: '/data', readOnly: false, sizeBytes: GiB, storageClass: 'fast', accessMode: 'ReadWriteOnce', retain: true },
    ]);
  });

  it('refuses classes outside storage.allowed_classes, reserved names and the root directory', () => {
    const problems: string[] = [];
    normaliseVolumes(
      [
        { name: 'kube-api-access-x', mountPath: '/', readOnly: false, emptyDir: { sizeLimitBytes: 1 } },
        { name: 'data', mountPath: '/a/../b', readOnly: false, claim: { storageClass: 'slow', sizeBytes: 1, accessMode: '', retain: false } },
      ],
      { defaultClass: '', allowedClasses: ['fast'] },
      1,
      problems,
    );
    expect(problems).toEqual([
      'workload.volumes[0].name "kube-api-access-x" is reserved',
      'workload.volumes[0].mount_path must not be the root directory',
      `workload.volumes[1].mount_path "/a/../b" must be an absolute path without '..' or ':'`,
      'workload.volumes[1].claim.storage_class "slow" is not one of storage.allowed_classes (fast)',
    ]);
  });

  it('keeps the spec hash of a request without the new fields what it was', () => {
    // Values computed by the daemon before DEPLOYMENT and volumes existed: a retry after an upgrade still matches.
    expect(validateDeploy(base, defaults).specHash).toBe('d229a09d7e1eae86');
    expect(validateDeploy({ ...base, workload: { kind: 'Job', labels: { a: 'b' } } }, defaults).specHash).toBe('22d95055aa83eb18');
    expect(validateDeploy({ ...base, workload: { volumes: [] } }, defaults).specHash).toBe('d229a09d7e1eae86');
    expect(validateDeploy({ ...base, workload: { kind: 'Deployment', replicas: 2 } }, defaults).specHash).not.toBe(
      validateDeploy({ ...base, workload: { kind: 'Deployment', replicas: 3 } }, defaults).specHash,
    );
  });

  it('needs emptyDir limits per replica and claims once', () => {
    const spec = validateDeploy(
      {
        ...base,
        workload: {
          kind: 'Deployment',
          replicas: 3,
          volumes: [
            { name: 's', mountPath: '/s', readOnly: false, emptyDir: { sizeLimitBytes: GiB } },
            { name: 'd', mountPath: '/d', readOnly: false, claim: { storageClass: '', sizeBytes: 5 * GiB, accessMode: 'ReadWriteMany', retain: false } },
          ],
        },
      },
      defaults,
    );
    expect(storageNeed(spec.volumes, 3)).toBe(8 * GiB);
  });
});

describe('storage books', () => {
  const observed: ObservedWorkloads = {
    pods: [
      { name: 'p', instanceId: 'p', phase: 'Running', requests: req, terminating: false, ephemeralStorage: GiB },
      { name: 'done', instanceId: 'done', phase: 'Succeeded', requests: req, terminating: false, ephemeralStorage: GiB },
      { name: 'd-1', instanceId: 'd', phase: 'Running', requests: req, terminating: false, ownerKind: 'ReplicaSet', ephemeralStorage: 2 * GiB },
    ],
    jobs: [{ name: 'j', instanceId: 'j', finished: undefined, podRequests: req, podEphemeralStorage: 3 * GiB }],
    deployments: [{ name: 'd', instanceId: 'd', replicas: 3, readyReplicas: 1, podRequests: req, podEphemeralStorage: 2 * GiB }],
    claims: [
      { name: 'd-data', instanceId: 'd', volume: 'data', sizeBytes: 10 * GiB, storageClass: 'fast', phase: 'Pending', retain: false, terminating: false },
      { name: 'old-keep', instanceId: 'old', volume: 'keep', sizeBytes: GiB, storageClass: 'fast', phase: 'Bound', retain: true, terminating: false },
    ],
  };

  it('holds live pods, a Job between pods, every replica of a Deployment and every claim', () => {
    const held = storageHeld(observed);
    expect(Object.fromEntries(held.ephemeral)).toEqual({ p: GiB, j: 3 * GiB, d: 6 * GiB });
    expect(held.claimed).toBe(11 * GiB);
  });

  it('holds every replica of a Deployment in cpu and memory too, created or not', () => {
    expect(deriveInstances(observed).get('d')).toMatchObject({ kind: 'Deployment', phase: 'Running', holds: { cpu: 300, memory: 3, gpu: 0 } });
  });

  it('reports total = used + available, and refuses only with a quota', () => {
    expect(storageReport(10 * GiB, { ephemeral: 4 * GiB, claimed: 8 * GiB })).toEqual({
      limited: true,
      total: 10 * GiB,
      used: 10 * GiB,
      available: 0,
      ephemeralUsed: 4 * GiB,
      claimedUsed: 8 * GiB,
    });
    expect(storageShortfall(1, storageReport(10 * GiB, { ephemeral: 4 * GiB, claimed: 8 * GiB }))).toBe(
      'needs 1 storage, 0 storage available (resource.storage)',
    );
    expect(storageShortfall(100 * GiB, storageReport(undefined, { ephemeral: 0, claimed: 0 }))).toBeUndefined();
  });
});

/**
 * Issue 14 item 6 on the real API server: with the default
 * workloads.security, a namespace enforcing the `restricted` Pod Security
 * level admits our Pods and our Jobs' pods; relaxing a setting is what gets
 * them refused (the check has teeth). workloads.allowed_images refuses other
 * images with PERMISSION_DENIED, and nothing is created (checked by listing).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { call, startTestDaemon, type ConfigInput, type TestDaemon } from '../helpers/daemon.js';

const MI = 2 ** 20;
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);

async function restrictedNamespace(prefix: string): Promise<TestNamespace> {
  const ns = await createTestNamespace(prefix);
  const current = await core.readNamespace({ name: ns.name });
  current.metadata!.labels = {
    ...current.metadata!.labels,
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  };
  await core.replaceNamespace({ name: ns.name, body: current });
  return ns;
}

async function withDaemon(namespace: string, overrides: ConfigInput, run: (d: TestDaemon) => Promise<void>): Promise<void> {
  const d = await startTestDaemon(namespace, overrides);
  try {
    expect(await call(d.client, 'Connect', { providerId: 'cp-sec' })).toMatchObject({ success: true });
    await run(d);
  } finally {
    await d.stop();
  }
}

const deploy = (d: TestDaemon, instanceId: string, over: object = {}): Promise<DeployResponse__Output> =>
  call<DeployResponse__Output>(d.client, 'Deploy', {
    providerId: 'cp-sec',
    instanceId,
    image: 'busybox:1.36',
    resourceRequest: { cpu: 100, memory: 64 * MI, gpu: 0 },
    envVars: { COMPONENT_ID: instanceId },
    ...over,
  });

async function names(namespace: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace });
  const jobs = await batch.listNamespacedJob({ namespace });
  return [...pods.items.map((p) => `pod/${p.metadata!.name}`), ...jobs.items.map((j) => `job/${j.metadata!.name}`)].sort();
}

describe('a namespace enforcing the restricted Pod Security level', () => {
  let ns: TestNamespace;
  beforeAll(async () => {
    ns = await restrictedNamespace('psa-restricted');
  });
  afterAll(async () => {
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
  });

  it('admits a Pod and a Job (and the pod its controller makes) with the default workloads.security', async () => {
    await withDaemon(ns.name, {}, async (d) => {
      expect(await deploy(d, 'comp-1')).toMatchObject({ error: '', created: true, workloadKind: 'POD' });
      expect(await deploy(d, 'batch-1', { workload: { kind: 'JOB', annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' } } })).toMatchObject({
        error: '',
        created: true,
        workloadKind: 'JOB',
      });
      const pod = await core.readNamespacedPod({ name: 'comp-1', namespace: ns.name });
      expect(pod.spec).toMatchObject({
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      });
      expect(pod.spec?.containers[0]?.securityContext).toEqual({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
      // The Job controller's pod creation goes through the same admission: it must have been let in.
      const jobPod = await waitFor('the Job controller to create its pod', async () => {
        const list = await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'batch.kubernetes.io/job-name=batch-1' });
        return list.items[0];
      });
      expect(jobPod.spec?.securityContext?.runAsNonRoot).toBe(true);
      const job = await batch.readNamespacedJob({ name: 'batch-1', namespace: ns.name });
      expect(job.status?.conditions?.find((c) => c.type === 'Failed')).toBeUndefined();
      await waitFor('both instances to run', async () => {
        const list = await core.listNamespacedPod({ namespace: ns.name });
        return list.items.length === 2 && list.items.every((p) => p.status?.phase === 'Running');
      });
    });
  });

  it('refuses a Pod once a setting is relaxed: the admission check is real', async () => {
    const before = await names(ns.name);
    for (const security of [
      { run_as_non_root: false },
      { allow_privilege_escalation: true },
      { drop_all_capabilities: false },
      { seccomp_profile: 'Unconfined' },
    ]) {
      await withDaemon(ns.name, { workloads: { security }, kubernetes: { label_selector: 'psa-test=relaxed' } }, async (d) => {
        const res = await deploy(d, `relaxed-${Object.keys(security)[0]!.replaceAll('_', '-')}`);
        expect(res.error, JSON.stringify(security)).toMatch(/^PERMISSION_DENIED: .*violates PodSecurity "restricted:latest"/);
      });
    }
    expect(await names(ns.name)).toEqual(before);
  });
});

describe('the daemon under its own namespaced Role, in a restricted namespace', () => {
  let ns: TestNamespace;
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-psa-sa-'));
  beforeAll(async () => {
    ns = await restrictedNamespace('psa-role');
  });
  afterAll(async () => {
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  // A Role cannot read Namespace objects, so the start-up check proves the
  // namespace exists with a dry-run Pod: that Pod must pass restricted too.
  it('starts (its start-up dry-run Pod is admitted) and deploys a Pod and a Job', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'provider' } } });
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: 'provider' },
        rules: [
          { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
          { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
          { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] },
          { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['create', 'get', 'list', 'watch'] },
          // Each instance's Service and NetworkPolicy (network.isolate is on by default).
          { apiGroups: [''], resources: ['services'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
          { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
          // The session and the leader lock live in Leases (as in k8s-deployment.yaml's Role).
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: 'provider' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'provider' },
        subjects: [{ kind: 'ServiceAccount', name: 'provider', namespace: ns.name }],
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({ name: 'provider', namespace: ns.name, body: { spec: { audiences: [], expirationSeconds: 600 } } })
    ).status!.token;
    const sa = new KubeConfig();
    sa.loadFromOptions({
      clusters: [{ ...kc.getCurrentCluster()!, name: 'test' }],
      users: [{ name: 'provider', token }],
      contexts: [{ name: 'sa', cluster: 'test', user: 'provider' }],
      currentContext: 'sa',
    });
    const kubeconfig = join(dir, 'sa.kubeconfig');
    writeFileSync(kubeconfig, sa.exportConfig());
    // Without namespace read, the start-up check takes the dry-run path.
    await waitFor('the RoleBinding to take effect', async () => {
      const list = await sa
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: ns.name })
        .catch(() => undefined);
      return list !== undefined;
    });
    await expect(sa.makeApiClient(CoreV1Api).readNamespace({ name: ns.name })).rejects.toMatchObject({ code: 403 });
    await withDaemon(ns.name, { kubernetes: { kubeconfig } }, async (d) => {
      expect(await deploy(d, 'sa-pod')).toMatchObject({ error: '', created: true });
      expect(await deploy(d, 'sa-job', { workload: { kind: 'JOB', annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' } } })).toMatchObject({
        error: '',
        created: true,
      });
    });
    // The Job controller's pod is admitted as well.
    await waitFor('the Job pod', async () => (await names(ns.name)).some((n) => n.startsWith('pod/sa-job-')));
    expect(await names(ns.name)).toEqual(['job/sa-job', expect.stringMatching(/^pod\/sa-job-[a-z0-9]{5}$/), 'pod/sa-pod']);
  });
});

describe('workloads.allowed_images', () => {
  let ns: TestNamespace;
  beforeAll(async () => {
    ns = await createTestNamespace('allowed-images');
  });
  afterAll(async () => {
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
  });

  it('refuses other images with PERMISSION_DENIED before anything is created', async () => {
    await withDaemon(ns.name, { workloads: { allowed_images: ['docker.io/library/busybox', 'registry.example.com/iarnet/*'] } }, async (d) => {
      const refused = await Promise.all([
        deploy(d, 'nginx-1', { image: 'nginx' }),
        deploy(d, 'deep-1', { image: 'registry.example.com/iarnet/nested/comp:1' }),
        deploy(d, 'evil-1', { image: 'evil.example.com/docker.io/library/busybox' }),
        deploy(d, 'job-1', { image: 'alpine:3', workload: { kind: 'JOB' } }),
      ]);
      expect(refused.map((r) => r.error)).toEqual([
        'PERMISSION_DENIED: image "nginx" (docker.io/library/nginx:latest) is not allowed by workloads.allowed_images',
        'PERMISSION_DENIED: image "registry.example.com/iarnet/nested/comp:1" (registry.example.com/iarnet/nested/comp:1) is not allowed by workloads.allowed_images',
        'PERMISSION_DENIED: image "evil.example.com/docker.io/library/busybox" (evil.example.com/docker.io/library/busybox:latest) is not allowed by workloads.allowed_images',
        'PERMISSION_DENIED: image "alpine:3" (docker.io/library/alpine:3) is not allowed by workloads.allowed_images',
      ]);
      expect(await names(ns.name)).toEqual([]);
      expect(await call(d.client, 'GetCapacity', { providerId: 'cp-sec' })).toMatchObject({ capacity: { used: { cpu: '0', memory: '0' } } });
      expect(await deploy(d, 'ok-1')).toMatchObject({ error: '', created: true });
      expect(await deploy(d, 'ok-2', { image: 'registry.example.com/iarnet/comp:2' })).toMatchObject({ error: '', created: true });
      expect(await names(ns.name)).toEqual(['pod/ok-1', 'pod/ok-2']);
    });
  });
});

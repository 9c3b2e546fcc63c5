/**
 * Issue 6: k8s-deployment.yaml is valid for a real API server, and its RBAC
 * is exactly enough. The RBAC objects are created for real in throw-away
 * namespaces, a token is minted for the ServiceAccount (TokenRequest, as the
 * kubelet does for the pod), and the daemon's own start-up check, then the
 * whole daemon, run with that token.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
  type V1PodDisruptionBudget,
  type V1Role,
  type V1Service,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DomainError, ErrorKind } from '../../src/core/errors.js';
import { preflight, quotaGuardPermissions, requiredPermissions, type Permission } from '../../src/adapters/kube/preflight.js';
import { LIVENESS_SERVICE } from '../../src/adapters/grpc/health.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon } from '../helpers/daemon.js';
import { serverSideApply as applyAsWritten } from '../helpers/apply.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const manifestText = readFileSync(join(root, 'k8s-deployment.yaml'), 'utf8');
const SYSTEM = 'iarnet-system';
const WORKLOADS = 'iarnet-workloads';
const AUTO_BLOCK = 'resource.mode auto';
const FIELD_MANAGER = 'k8s-provider-manifest-test';

function parseObjects(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object');
}

/** The text between "# BEGIN optional: NAME" and "# END optional: NAME", uncommented. */
function optionalBlock(text: string, name: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf(`# BEGIN optional: ${name}`);
  const end = lines.indexOf(`# END optional: ${name}`);
  if (start < 0 || end < start) throw new Error(`no optional block "${name}" in k8s-deployment.yaml`);
  return lines
    .slice(start + 1, end)
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n');
}

const renamed = (text: string, system: string, workloads: string): string => text.replaceAll(SYSTEM, system).replaceAll(WORKLOADS, workloads);

function find<T extends KubernetesObject>(objects: KubernetesObject[], kind: string, name?: string): T {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the manifest`);
  return o as T;
}

const key = (p: { verb: string; group: string; resource: string; subresource?: string | undefined }): string =>
  `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''}.${p.group || 'core'}`;

function grants(rules: V1Role['rules']): string[] {
  return (rules ?? [])
    .flatMap((r) => (r.apiGroups ?? []).flatMap((group) => (r.resources ?? []).flatMap((resource) => r.verbs.map((verb) => key({ verb, group, resource })))))
    .sort();
}

/** The manifest's objects applied as written (test/helpers/apply.ts), under this test's field manager. */
const serverSideApply = (kc: KubeConfig, o: KubernetesObject, dryRun: boolean): Promise<KubernetesObject> =>
  applyAsWritten(kc, o, { dryRun, fieldManager: FIELD_MANAGER });

/** A KubeConfig for the same API server that authenticates with a bearer token only. */
function tokenKubeConfig(admin: KubeConfig, token: string, user: string): KubeConfig {
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'test' }],
    users: [{ name: user, token }],
    contexts: [{ name: 'sa', cluster: 'test', user }],
    currentContext: 'sa',
  });
  return kc;
}

describe('k8s-deployment.yaml', () => {
  const objects = parseObjects(manifestText);
  const configMap = find<V1ConfigMap>(objects, 'ConfigMap');
  const config = parseConfig(configMap.data!['config.yaml']!, '/app/config.yaml');
  const deployment = find<V1Deployment>(objects, 'Deployment');
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('holds the objects an operator expects, in an order kubectl apply can create', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`)).toEqual([
      `Namespace/${SYSTEM}`,
      `Namespace/${WORKLOADS}`,
      `ServiceAccount/${SYSTEM}/k8s-provider`,
      `ServiceAccount/${WORKLOADS}/default`,
      `Role/${WORKLOADS}/k8s-provider`,
      `RoleBinding/${WORKLOADS}/k8s-provider`,
      `Role/${SYSTEM}/k8s-provider-events`,
      `RoleBinding/${SYSTEM}/k8s-provider-events`,
      `ConfigMap/${SYSTEM}/k8s-provider-config`,
      `Deployment/${SYSTEM}/k8s-provider`,
      `PodDisruptionBudget/${SYSTEM}/k8s-provider`,
      `Service/${SYSTEM}/k8s-provider`,
    ]);
  });

  it('configures the daemon for in-cluster use, consistently with the objects around it', () => {
    expect(config.kubernetes).toMatchObject({ kubeconfig: '', in_cluster: true, namespace: WORKLOADS });
    expect(find<V1Role>(objects, 'Role', 'k8s-provider').metadata?.namespace).toBe(config.kubernetes.namespace);
    expect(container.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['grpc', config.server.port],
      ['metrics', config.prometheus.port],
    ]);
    const service = find<V1Service>(objects, 'Service');
    expect(service.spec?.ports?.map((p) => [p.port, p.targetPort])).toEqual([
      [config.server.port, 'grpc'],
      [config.prometheus.port, 'metrics'],
    ]);
    expect(service.spec?.selector).toEqual(deployment.spec?.selector?.matchLabels);
    // SIGTERM drains for shutdown_grace_seconds, and main.ts exits at most a second later.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config.server.shutdown_grace_seconds + 1);
    expect(container.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: '/app/config.yaml', subPath: 'config.yaml', readOnly: true }));
  });

  it('runs two replicas, one active, that a rollout or a drain never takes both of', () => {
    expect(deployment.spec).toMatchObject({ replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } });
    const pdb = find<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: deployment.spec?.selector });
    expect(pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: deployment.spec?.selector } },
    ]);
    // The leader Lease names the pod, and the standby dials the leader's pod IP.
    expect(container.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ]);
    // The renew deadline ends before the lease can expire for the standby.
    expect(config.leader_election.renew_deadline_seconds).toBeLessThan(config.leader_election.lease_duration_seconds);
  });

  it('runs locked down, with native gRPC probes', () => {
    expect(pod.serviceAccountName).toBe('k8s-provider');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
    expect(container.readinessProbe?.grpc).toEqual({ port: config.server.port });
    expect(container.livenessProbe?.grpc).toEqual({ port: config.server.port, service: LIVENESS_SERVICE });
    expect(container.startupProbe?.grpc).toEqual({ port: config.server.port, service: LIVENESS_SERVICE });
  });

  it('grants exactly the permissions the start-up check requires, no more', () => {
    const required = (perms: Permission[]): string[] => perms.map(key).sort();
    // The quota guard's verbs are granted whether or not the config turns it on.
    expect(grants(find<V1Role>(objects, 'Role', 'k8s-provider').rules)).toEqual(
      required([...requiredPermissions(WORKLOADS, false), ...quotaGuardPermissions(WORKLOADS, true)]),
    );
    // Events about the daemon go beside its pod: that namespace grants exactly those.
    const events = find<V1Role>(objects, 'Role', 'k8s-provider-events');
    expect(events.metadata?.namespace).toBe(SYSTEM);
    expect(grants(events.rules)).toEqual(required(requiredPermissions(WORKLOADS, false, SYSTEM).filter((p) => p.namespace === SYSTEM)));
    expect(find(objects, 'RoleBinding', 'k8s-provider-events')).toMatchObject({
      metadata: { namespace: SYSTEM },
      roleRef: { kind: 'Role', name: 'k8s-provider-events' },
      subjects: [{ kind: 'ServiceAccount', name: 'k8s-provider', namespace: SYSTEM }],
    });
    const auto = parseObjects(optionalBlock(manifestText, AUTO_BLOCK));
    expect(auto.map((o) => o.kind)).toEqual(['ClusterRole', 'ClusterRoleBinding']);
    const clusterWide = requiredPermissions(WORKLOADS, true).filter((p) => p.namespace === undefined);
    expect(grants((auto[0] as V1Role).rules)).toEqual(required(clusterWide));
  });

  describe('against the test cluster', () => {
    const admin = makeKubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    const objectsApi = KubernetesObjectApi.makeApiClient(admin);
    let system: TestNamespace;
    let workloads: TestNamespace;
    let ours: KubernetesObject[];
    const suffix = randomBytes(3).toString('hex');
    const clusterScoped: KubernetesObject[] = [];
    const tmp = mkdtempSync(join(tmpdir(), 'k8s-provider-manifest-'));

    async function applyForReal(list: KubernetesObject[]): Promise<void> {
      for (const o of list) await serverSideApply(admin, o, false);
    }

    async function tokenFor(namespace: string, serviceAccount: string): Promise<string> {
      const review = await core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      return review.status!.token;
    }

    async function preflightAs(kc: KubeConfig, namespace: string, auto: boolean): Promise<unknown> {
      return preflight(kc.makeApiClient(CoreV1Api), kc.makeApiClient(AuthorizationV1Api), namespace, requiredPermissions(namespace, auto));
    }

    beforeAll(async () => {
      system = await createTestNamespace('mf-system');
      workloads = await createTestNamespace('mf-workloads');
      ours = parseObjects(renamed(manifestText, system.name, workloads.name));
    });

    afterAll(async () => {
      for (const o of clusterScoped) await objectsApi.delete(o).catch(() => undefined);
      await system?.cleanup();
      await workloads?.cleanup();
      rmSync(tmp, { recursive: true, force: true });
    });

    it('every object passes a server-side dry-run apply (the namespaces under their real names too)', async () => {
      const asShipped = parseObjects(manifestText).filter((o) => o.kind === 'Namespace');
      for (const o of [...asShipped, ...ours, ...parseObjects(renamed(optionalBlock(manifestText, AUTO_BLOCK), system.name, workloads.name))]) {
        const applied = await serverSideApply(admin, o, true);
        expect(applied.kind, `${o.kind}/${o.metadata?.name}`).toBe(o.kind);
      }
      // The check has teeth: a misspelt field is refused, not dropped.
      const service = ours.find((o) => o.kind === 'Service') as V1Service;
      const misspelt = { ...service, spec: { ...service.spec, ports: [{ port: 50052, tagretPort: 'grpc' }] } } as unknown as KubernetesObject;
      await expect(serverSideApply(admin, misspelt, true)).rejects.toThrow('tagretPort: field not declared in schema');
      // Dry run: nothing was made.
      await expect(core.readNamespacedConfigMap({ name: 'k8s-provider-config', namespace: system.name })).rejects.toMatchObject({ code: 404 });
    });

    it("the ServiceAccount's own token passes the daemon's start-up check, and the whole daemon runs with it", async () => {
      await applyForReal(ours.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind!)));
      const kc = tokenKubeConfig(admin, await tokenFor(system.name, 'k8s-provider'), 'k8s-provider');
      // RBAC caches take a moment to see a new binding.
      await waitFor('the RoleBinding to take effect', async () => (await preflightAs(kc, workloads.name, false)) as object, { timeoutMs: 20_000 });
      expect(await preflightAs(kc, workloads.name, false)).toEqual({ missingOptional: [] });

      const kubeconfig = join(tmp, 'sa.kubeconfig');
      writeFileSync(kubeconfig, kc.exportConfig());
      const d = await startTestDaemon(workloads.name, { kubernetes: { kubeconfig } });
      try {
        expect(await call(d.client, 'Connect', { providerId: 'manifest' })).toMatchObject({ success: true });
        const deployed = await call<{ error: string; workloadName: string }>(d.client, 'Deploy', {
          providerId: 'manifest',
          instanceId: 'rbac-proof',
          image: 'busybox',
          resourceRequest: { cpu: 100, memory: 64 * 2 ** 20, gpu: 0 },
        });
        expect(deployed.error).toBe('');
        const adminCore = admin.makeApiClient(CoreV1Api);
        await waitFor('the pod made under the ServiceAccount to run', async () => {
          const p = await adminCore.readNamespacedPod({ name: deployed.workloadName, namespace: workloads.name });
          return p.status?.phase === 'Running';
        });
        expect(d.daemon.ready()).toBe(true);
      } finally {
        await d.stop();
      }
    });

    it('a Role missing one verb makes the start-up check fail, naming that permission', async () => {
      const short = ours
        .filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind!) && o.metadata?.name === 'k8s-provider')
        .map((o) => JSON.parse(JSON.stringify(o).replaceAll('"k8s-provider"', '"k8s-provider-short"')) as KubernetesObject);
      const role = short.find((o) => o.kind === 'Role') as V1Role;
      const jobs = role.rules!.find((r) => r.resources?.includes('jobs'))!;
      jobs.verbs = jobs.verbs.filter((v) => v !== 'delete');
      await applyForReal(short);
      const kc = tokenKubeConfig(admin, await tokenFor(system.name, 'k8s-provider-short'), 'k8s-provider-short');
      // Wait until the binding is in force (create pods allowed), so the failure below is about the one verb.
      await waitFor('the short RoleBinding to take effect', async () => {
        const review = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { verb: 'create', resource: 'pods', namespace: workloads.name } } },
        });
        return review.status?.allowed === true;
      });
      const failure = await preflightAs(kc, workloads.name, false).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(DomainError);
      expect((failure as DomainError).kind).toBe(ErrorKind.PermissionDenied);
      expect((failure as DomainError).message).toBe(`the daemon's identity may not: delete jobs.batch in namespace "${workloads.name}"`);
    });

    it('resource.mode auto needs the optional ClusterRole, and it is enough', async () => {
      const kc = tokenKubeConfig(admin, await tokenFor(system.name, 'k8s-provider'), 'k8s-provider');
      const without = await preflightAs(kc, workloads.name, true).then(
        () => undefined,
        (err: unknown) => err as DomainError,
      );
      expect(without?.kind).toBe(ErrorKind.PermissionDenied);
      for (const missing of ['list nodes cluster-wide', 'watch nodes cluster-wide', 'list pods cluster-wide', 'watch pods cluster-wide']) {
        expect(without?.message).toContain(missing);
      }

      const auto = parseObjects(renamed(optionalBlock(manifestText, AUTO_BLOCK), system.name, workloads.name)).map(
        (o) => JSON.parse(JSON.stringify(o).replaceAll('"k8s-provider-auto-capacity"', `"k8s-provider-auto-capacity-${suffix}"`)) as KubernetesObject,
      );
      clusterScoped.push(...auto);
      await applyForReal(auto);
      await waitFor('the ClusterRoleBinding to take effect', async () => (await preflightAs(kc, workloads.name, true)) as object, { timeoutMs: 20_000 });
      expect(await preflightAs(kc, workloads.name, true)).toEqual({ missingOptional: [] });
    });
  });
});

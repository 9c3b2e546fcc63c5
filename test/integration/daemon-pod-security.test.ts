/**
 * Issue 14 item 7: the daemon's own pod, as k8s-deployment.yaml describes it,
 * passes the `restricted` Pod Security level on the real API server. Pod
 * Security only warns on a Deployment and enforces on the Pods its
 * ReplicaSet creates, so the check creates a Pod from the Deployment's
 * template (server-side dry run) in a namespace that enforces restricted.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Deployment, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiStatusOf } from '../../src/shared/kube-api-errors.js';
import { createTestNamespace, makeKubeConfig, type TestNamespace } from '../helpers/cluster.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const manifest = parseAllDocuments(readFileSync(join(root, 'k8s-deployment.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string } | null);
const deployment = manifest.find((o) => o?.kind === 'Deployment') as V1Deployment;
const template = deployment.spec!.template;

describe("the daemon's pod (k8s-deployment.yaml)", () => {
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace('daemon-psa');
    const current = await core.readNamespace({ name: ns.name });
    current.metadata!.labels = {
      ...current.metadata!.labels,
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    };
    await core.replaceNamespace({ name: ns.name, body: current });
    // The ServiceAccount admission plugin wants the pod's account to exist, dry run or not.
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: template.spec!.serviceAccountName! } } });
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  const podOf = (spec: V1PodSpec): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'k8s-provider-psa', labels: template.metadata?.labels },
    spec,
  });
  const dryRun = async (spec: V1PodSpec): Promise<string> => {
    try {
      await core.createNamespacedPod({ namespace: ns.name, body: podOf(spec), dryRun: 'All' });
      return 'admitted';
    } catch (err) {
      return apiStatusOf(err)?.message ?? String(err);
    }
  };

  it('runs as non-root with a read-only root filesystem, every capability dropped', () => {
    const container = template.spec!.containers[0]!;
    expect(template.spec!.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(template.spec!.securityContext!.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('is admitted by a namespace enforcing restricted (server-side dry run)', async () => {
    expect(await dryRun(template.spec!)).toBe('admitted');
    // Dry run: nothing was made.
    expect((await core.listNamespacedPod({ namespace: ns.name })).items).toEqual([]);
  });

  it('would be refused without its hardening: the check has teeth', async () => {
    const container = template.spec!.containers[0]!;
    // runAsNonRoot is set on the pod and on the container: either is enough, so both go.
    const withoutNonRoot = {
      ...template.spec!,
      securityContext: { ...template.spec!.securityContext, runAsNonRoot: undefined },
      containers: [{ ...container, securityContext: { ...container.securityContext, runAsNonRoot: undefined } }],
    };
    const withCaps = { ...template.spec!, containers: [{ ...container, securityContext: { ...container.securityContext, capabilities: undefined } }] };
    expect(await dryRun(withoutNonRoot)).toContain('violates PodSecurity "restricted:latest"');
    expect(await dryRun(withCaps)).toContain('unrestricted capabilities');
  });
});

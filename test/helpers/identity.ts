/**
 * A ServiceAccount identity for a daemon under test, with only the RBAC it
 * needs (its metrics permission in a binding of its own, so a test can
 * revoke and restore it), a token and a kubeconfig file.
 *
 * Optionally an API Priority and Fairness FlowSchema that matches this
 * identity alone: the API server then counts every request the daemon makes
 * under apiserver_flowcontrol_dispatched_requests_total{flow_schema=...},
 * aggregated APIs such as metrics.k8s.io included, which
 * apiserver_request_total does not cover.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, FlowcontrolApiserverV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { makeKubeConfig } from './cluster.js';

export interface TestIdentity {
  readonly kubeconfigPath: string;
  /** system:serviceaccount:<namespace>:<name> */
  readonly username: string;
  readonly flowSchema: string | undefined;
  /** Deletes the RoleBinding that lets it list pods.metrics.k8s.io. */
  revokeMetrics(): Promise<void>;
  grantMetrics(): Promise<void>;
  /** Removes the cluster-scoped FlowSchema and the kubeconfig file (namespaced objects go with the namespace). */
  cleanup(): Promise<void>;
}

const NAME = 'k8s-provider';
const METRICS = 'k8s-provider-metrics';

/** `events: false` leaves out the (optional) right to write Events, as an old Role would. */
export async function createTestIdentity(namespace: string, options: { flowSchema?: boolean; events?: boolean } = {}): Promise<TestIdentity> {
  const admin = makeKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const flow = admin.makeApiClient(FlowcontrolApiserverV1Api);

  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: NAME } } });
  const subjects = [{ kind: 'ServiceAccount', name: NAME, namespace }];
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: NAME },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] },
        { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['create', 'get', 'list', 'watch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
        { apiGroups: [''], resources: ['services'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get', 'create', 'update', 'patch', 'delete'] },
        ...(options.events === false ? [] : [{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] }]),
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name: NAME }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME }, subjects },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: { metadata: { name: METRICS }, rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'] }] },
  });
  const grantMetrics = async (): Promise<void> => {
    try {
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: { metadata: { name: METRICS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: METRICS }, subjects },
      });
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw err;
    }
  };
  await grantMetrics();

  const { status } = await core.createNamespacedServiceAccountToken({
    name: NAME,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: cluster.name, server: cluster.server, caData: cluster.caData, caFile: cluster.caFile, skipTLSVerify: cluster.skipTLSVerify }],
    users: [{ name: NAME, token: status!.token }],
    contexts: [{ name: NAME, cluster: cluster.name, user: NAME, namespace }],
    currentContext: NAME,
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'k8s-provider-identity-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kc.exportConfig(), { mode: 0o600 });

  let flowSchema: string | undefined;
  if (options.flowSchema) {
    flowSchema = `k8s-provider-test-${namespace}`;
    await flow.createFlowSchema({
      body: {
        metadata: { name: flowSchema },
        spec: {
          // Before every built-in schema that could match a ServiceAccount (kube-controller-manager 800, service-accounts 9000).
          matchingPrecedence: 600,
          priorityLevelConfiguration: { name: 'workload-high' },
          distinguisherMethod: { type: 'ByUser' },
          rules: [
            {
              subjects: [{ kind: 'ServiceAccount', serviceAccount: { namespace, name: NAME } }],
              resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }],
              nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
            },
          ],
        },
      },
    });
  }

  return {
    kubeconfigPath,
    username: `system:serviceaccount:${namespace}:${NAME}`,
    flowSchema,
    revokeMetrics: async () => {
      try {
        await rbac.deleteNamespacedRoleBinding({ name: METRICS, namespace });
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
      }
    },
    grantMetrics,
    cleanup: async () => {
      rmSync(dir, { recursive: true, force: true });
      if (!flowSchema) return;
      try {
        await flow.deleteFlowSchema({ name: flowSchema });
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
      }
    },
  };
}

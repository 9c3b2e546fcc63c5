/**
 * Server-side apply of an object exactly as written, as `kubectl apply
 * --server-side` sends it: the raw body with fieldValidation=Strict, so a
 * misspelt or unknown field is an error. (KubernetesObjectApi serialises
 * through the typed models first, which silently drops unknown fields.)
 */
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';

const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  Pod: 'pods',
  NetworkPolicy: 'networkpolicies',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  Service: 'services',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  CustomResourceDefinition: 'customresourcedefinitions',
  ServiceMonitor: 'servicemonitors',
  PrometheusRule: 'prometheusrules',
};

export async function serverSideApply(
  kc: KubeConfig,
  o: KubernetesObject,
  { dryRun, fieldManager }: { dryRun: boolean; fieldManager: string },
): Promise<KubernetesObject> {
  const [group, version] = o.apiVersion!.includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion!];
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const plural = PLURALS[o.kind!];
  if (!plural) throw new Error(`no plural known for ${o.kind}`);
  const ns = o.metadata?.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  const query = new URLSearchParams({ fieldManager, force: 'true', fieldValidation: 'Strict', ...(dryRun ? { dryRun: 'All' } : {}) });
  const server = new URL(kc.getCurrentCluster()!.server);
  const options: RequestOptions = {
    method: 'PATCH',
    hostname: server.hostname,
    port: server.port,
    path: `${base}${ns}/${plural}/${o.metadata!.name}?${query}`,
    headers: { 'content-type': 'application/apply-patch+yaml', accept: 'application/json' },
  };
  await kc.applyToHTTPSOptions(options);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(o));
  });
  if (status < 200 || status > 299) {
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: keep the raw body
    }
    throw new Error(`apply ${o.kind}/${o.metadata?.name}: HTTP ${status}: ${message}`);
  }
  return JSON.parse(body) as KubernetesObject;
}

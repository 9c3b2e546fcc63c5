/**
 * Start-up checks: the namespace exists and the daemon may do everything it
 * will need to, so a misconfigured RBAC fails at start with the list of what
 * is missing instead of at the first Deploy.
 */
import type { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { failedPrecondition, permissionDenied, DomainError, ErrorKind } from '../../core/errors.js';
import { withRetry } from './retry.js';

export interface Permission {
  readonly verb: string;
  readonly resource: string;
  readonly group: string;
  readonly subresource?: string | undefined;
  readonly namespace?: string | undefined; // undefined = cluster-wide
  /** Missing optional permissions are reported but do not stop the daemon. */
  readonly optional?: boolean;
}

/**
 * `eventsNamespace`: where the daemon's own pod is, when it runs in one and
 * events are on (events about the daemon go beside its pod); undefined
 * otherwise.
 */
export function requiredPermissions(namespace: string, autoCapacity: boolean, eventsNamespace?: string): Permission[] {
  const perms: Permission[] = [];
  for (const verb of ['create', 'get', 'list', 'watch', 'delete']) {
    perms.push({ verb, resource: 'pods', group: '', namespace });
    perms.push({ verb, resource: 'jobs', group: 'batch', namespace });
    perms.push({ verb, resource: 'deployments', group: 'apps', namespace });
  }
  // ScaleInstance.
  perms.push({ verb: 'update', resource: 'deployments', subresource: 'scale', group: 'apps', namespace });
  // Claim volumes: no delete, the garbage collector removes a claim with the workload that owns it.
  for (const verb of ['create', 'get', 'list', 'watch']) perms.push({ verb, resource: 'persistentvolumeclaims', group: '', namespace });
  // The session and the leader lock (no delete: a released Lease is kept, with no holder).
  for (const verb of ['get', 'list', 'watch', 'create', 'update']) perms.push({ verb, resource: 'leases', group: 'coordination.k8s.io', namespace });
  perms.push({ verb: 'list', resource: 'pods', group: 'metrics.k8s.io', namespace, optional: true });
  // GetLogs only: without it that RPC answers PERMISSION_DENIED and everything else works.
  perms.push({ verb: 'get', resource: 'pods', subresource: 'log', group: '', namespace, optional: true });
  // Each instance's Service and NetworkPolicy: create (Deploy), list + watch (what GetInstance reports),
  // get + delete (a leftover of an earlier workload of the same name is replaced). The garbage
  // collector deletes them with their workload.
  for (const verb of ['create', 'get', 'list', 'watch', 'delete']) {
    perms.push({ verb, resource: 'services', group: '', namespace });
    perms.push({ verb, resource: 'networkpolicies', group: 'networking.k8s.io', namespace });
  }
  // SendHttpRequest only: the API server checks the verb its HTTP method maps to.
  for (const verb of ['get', 'create', 'update', 'patch', 'delete']) {
    perms.push({ verb, resource: 'pods', subresource: 'proxy', group: '', namespace, optional: true });
  }
  // Kubernetes Events: best effort, so optional (without them the daemon logs that it cannot write Events, once).
  for (const ns of new Set([namespace, ...(eventsNamespace ? [eventsNamespace] : [])])) {
    for (const verb of ['create', 'patch']) perms.push({ verb, resource: 'events', group: 'events.k8s.io', namespace: ns, optional: true });
  }
  if (autoCapacity) {
    for (const verb of ['list', 'watch']) {
      perms.push({ verb, resource: 'nodes', group: '' });
      perms.push({ verb, resource: 'pods', group: '' });
    }
  }
  return perms;
}

/** resource.enforce_with_resourcequota: the daemon creates, watches and puts back its ResourceQuota (never deletes it). */
export function quotaGuardPermissions(namespace: string, enabled: boolean): Permission[] {
  if (!enabled) return [];
  return ['get', 'list', 'watch', 'create', 'update'].map((verb) => ({ verb, resource: 'resourcequotas', group: '', namespace }));
}

export const describePermission = (p: Permission): string =>
  `${p.verb} ${p.group ? `${p.resource}.${p.group}` : p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.namespace ? ` in namespace "${p.namespace}"` : ' cluster-wide'}`;

export interface PreflightResult {
  readonly missingOptional: readonly string[];
}

export async function preflight(core: CoreV1Api, authz: AuthorizationV1Api, namespace: string, perms: readonly Permission[]): Promise<PreflightResult> {
  await checkNamespace(core, namespace);
  const answers = await Promise.all(
    perms.map(async (p) => {
      const review = await withRetry({ verb: 'create', resource: 'selfsubjectaccessreviews' }, () =>
        authz.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              resourceAttributes: {
                verb: p.verb,
                resource: p.resource,
                group: p.group,
                ...(p.subresource ? { subresource: p.subresource } : {}),
                ...(p.namespace ? { namespace: p.namespace } : {}),
              },
            },
          },
        }),
      );
      return { p, allowed: review.status?.allowed === true };
    }),
  );
  const missing = answers.filter((a) => !a.allowed && !a.p.optional).map((a) => describePermission(a.p));
  if (missing.length > 0) throw permissionDenied(`the daemon's identity may not: ${missing.join('; ')}`);
  return { missingOptional: answers.filter((a) => !a.allowed && a.p.optional).map((a) => describePermission(a.p)) };
}

/**
 * A namespaced Role usually cannot read Namespace objects, so when reading
 * is forbidden we ask with a server-side dry-run create, which the API
 * server refuses with NotFound when the namespace is missing.
 */
async function checkNamespace(core: CoreV1Api, namespace: string): Promise<void> {
  const missing = (): DomainError => failedPrecondition(`namespace "${namespace}" does not exist (kubernetes.namespace)`);
  try {
    await withRetry({ verb: 'get', resource: 'namespaces' }, () => core.readNamespace({ name: namespace }));
    return;
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    if (err.kind === ErrorKind.NotFound) throw missing();
    if (err.kind !== ErrorKind.PermissionDenied) throw err;
  }
  try {
    await withRetry({ verb: 'create', resource: 'pods', namespace }, () =>
      core.createNamespacedPod({
        namespace,
        dryRun: 'All',
        // Locked down so that a namespace enforcing the restricted Pod Security level admits it too.
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { generateName: 'preflight-' },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'c',
                image: 'preflight',
                // A ResourceQuota on the namespace (the quota guard) refuses pods without requests.
                resources: { requests: { cpu: '1m', memory: '1Mi' }, limits: { cpu: '1m', memory: '1Mi' } },
                securityContext: { allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      }),
    );
  } catch (err) {
    // A full quota answers only for a namespace that exists.
    if (err instanceof DomainError && err.kind === ErrorKind.ResourceExhausted) return;
    if (err instanceof DomainError && (err.kind === ErrorKind.NotFound || err.kind === ErrorKind.FailedPrecondition)) throw missing();
    throw err;
  }
}

/**
 * The Leases the daemon keeps in its namespace (the session and the leader
 * lock), one watch for both, and the few API calls on them. Every write
 * carries the resourceVersion it was computed from, so a concurrent writer
 * makes it fail with 409 instead of being overwritten.
 */
import { createHash } from 'node:crypto';
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { ErrorKind, DomainError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { abortWith } from '../../shared/kube-abort.js';
import type { KubeClients } from './client.js';
import { Informer } from './informer.js';
import { withRetry, type RetryPolicy, sleep } from './retry.js';

/** On every Lease the daemon creates, so one label-selected watch sees them all. */
export const LEASE_LABEL = 'app.kubernetes.io/managed-by';
export const LEASE_LABEL_VALUE = 'k8s-provider';
/** Where the active replica says it can be reached (host:port), for forwarded calls. */
export const ANNOTATION_ADDRESS = 'k8s-provider.iarnet/address';

/** One try per call: the callers have their own loops and deadlines. */
const ONCE: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0, sleep };

/** The daemon's Leases in `namespace`, watched: both replicas see a Connect or a hand-over within milliseconds. */
export function leaseInformer(kube: KubeClients, namespace: string, resyncMs: number, log: Logger): Informer<V1Lease> {
  const labelSelector = `${LEASE_LABEL}=${LEASE_LABEL_VALUE}`;
  return new Informer<V1Lease>({
    name: 'leases',
    kubeConfig: kube.kubeConfig,
    path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    list: () => kube.coordination.listNamespacedLease({ namespace, labelSelector }),
    labelSelector,
    resyncMs,
    // Lease changes drive fail-over: come back fast after a dropped watch.
    backoff: { baseMs: 100, maxMs: 2000 },
    log,
  });
}

/**
 * The name of one of the daemon's Leases: the configured one, else `base`.
 * Daemons that share a namespace through kubernetes.label_selector guard
 * different books, so each selector gets its own Leases (a short hash of the
 * selector's terms, in any order), and they never lead or share a session
 * with each other.
 */
export function leaseName(configured: string, base: string, selector: Readonly<Record<string, string>>): string {
  if (configured) return configured;
  const terms = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  if (terms.length === 0) return base;
  return `${base}-${createHash('sha256').update(terms.join(',')).digest('hex').slice(0, 8)}`;
}

/** MicroTime as the API server wants it (RFC 3339 with six fractional digits). */
export function microTime(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}

/** ms since epoch of a MicroTime as it arrives (a string from watches, maybe a Date from typed reads). */
export function timeOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const t = value instanceof Date ? value.getTime() : Date.parse(String(value));
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The newer of two copies of one Lease. resourceVersions are opaque, but
 * they are etcd revisions in practice; when both parse as integers the
 * larger wins, so a late watch event never rolls back our own write.
 */
export function newer(a: V1Lease | undefined, b: V1Lease | undefined): V1Lease | undefined {
  if (!a || !b) return a ?? b;
  const ra = Number(a.metadata?.resourceVersion);
  const rb = Number(b.metadata?.resourceVersion);
  if (Number.isSafeInteger(ra) && Number.isSafeInteger(rb)) return rb >= ra ? b : a;
  return b;
}

export class LeaseClient {
  constructor(
    private readonly api: CoordinationV1Api,
    readonly namespace: string,
  ) {}

  async get(name: string, signal?: AbortSignal): Promise<V1Lease | undefined> {
    const namespace = this.namespace;
    try {
      return await withRetry(
        { verb: 'get', resource: 'leases', namespace },
        () => this.api.readNamespacedLease({ name, namespace }, signal && abortWith(signal)),
        ONCE,
      );
    } catch (err) {
      if (err instanceof DomainError && err.kind === ErrorKind.NotFound) return undefined;
      throw err;
    }
  }

  /** Creates the Lease, or replaces it when `body` carries the resourceVersion it was read at. A conflict is AlreadyExists. */
  async write(body: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    const namespace = this.namespace;
    const name = body.metadata?.name;
    if (!name) throw new Error('a Lease to write needs metadata.name');
    const options = signal && abortWith(signal);
    const labelled: V1Lease = { ...body, metadata: { ...body.metadata, labels: { ...body.metadata?.labels, [LEASE_LABEL]: LEASE_LABEL_VALUE } } };
    if (!body.metadata?.resourceVersion) {
      return withRetry({ verb: 'create', resource: 'leases', namespace }, () => this.api.createNamespacedLease({ namespace, body: labelled }, options), ONCE);
    }
    return withRetry(
      { verb: 'update', resource: 'leases', namespace },
      () => this.api.replaceNamespacedLease({ name, namespace, body: labelled }, options),
      ONCE,
    );
  }
}

/** True for the answer to a write computed from an outdated read (409 on update, or create of an existing Lease). */
export function isConflict(err: unknown): boolean {
  return err instanceof DomainError && err.kind === ErrorKind.AlreadyExists;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof DomainError && err.kind === ErrorKind.NotFound;
}

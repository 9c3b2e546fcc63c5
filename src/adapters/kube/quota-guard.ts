/**
 * Keeps the daemon's ResourceQuota in its namespace (resource.enforce_with_resourcequota):
 * created at start, replaced when the capacity is reloaded, and put back
 * when anyone edits or deletes it. Its status is read from a watch, so the
 * books never wait on an API call. Only the active replica writes.
 */
import type { CoreV1Api, V1ResourceQuota } from '@kubernetes/client-node';
import { DomainError, ErrorKind } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { toMilli, toUnits } from '../../core/quantity.js';
import { limitsEqual, type QuotaLimits, type QuotaStatus, type QuotaView } from '../../core/quota-guard.js';
import { GPU_RESOURCE } from '../../shared/labels.js';
import type { KubeClients } from './client.js';
import { Informer } from './informer.js';
import { LEASE_LABEL, LEASE_LABEL_VALUE } from './leases.js';
import { withRetry } from './retry.js';

const HARD_KEYS = {
  cpu: 'requests.cpu',
  memory: 'requests.memory',
  gpu: `requests.${GPU_RESOURCE}`,
  pods: 'pods',
  storage: 'requests.storage',
} as const;
type LimitKey = keyof typeof HARD_KEYS;
const LIMIT_KEYS = Object.keys(HARD_KEYS) as LimitKey[];

/** spec.hard for the limits; pure. */
export function hardOf(limits: QuotaLimits): Record<string, string> {
  const hard: Record<string, string> = {};
  for (const k of LIMIT_KEYS) {
    const v = limits[k];
    if (v !== undefined) hard[HARD_KEYS[k]] = k === 'cpu' ? `${v}m` : String(v);
  }
  return hard;
}

/** A quantity list (spec.hard, status.used) read back; unknown or unparsable keys are left out. */
export function limitsOf(list: Record<string, string> | undefined): QuotaLimits {
  const out: { -readonly [K in LimitKey]?: number } = {};
  for (const k of LIMIT_KEYS) {
    const q = list?.[HARD_KEYS[k]];
    if (q === undefined) continue;
    try {
      out[k] = Number(k === 'cpu' ? toMilli(q) : toUnits(q));
    } catch {
      // Left out: a value we cannot read counts as different, so it is replaced.
    }
  }
  return out;
}

/** The object as the daemon wants it; pure. */
export function quotaManifest(name: string, namespace: string, limits: QuotaLimits): V1ResourceQuota {
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name, namespace, labels: { [LEASE_LABEL]: LEASE_LABEL_VALUE } },
    spec: { hard: hardOf(limits) },
  };
}

/** True when the object on the server limits exactly what we want, for every pod (no scopes). */
export function matches(existing: V1ResourceQuota, limits: QuotaLimits): boolean {
  const hard = existing.spec?.hard ?? {};
  const want = hardOf(limits);
  if (Object.keys(hard).sort().join() !== Object.keys(want).sort().join()) return false;
  if (existing.spec?.scopes?.length || existing.spec?.scopeSelector) return false;
  return limitsEqual(limitsOf(hard), limits) && existing.metadata?.labels?.[LEASE_LABEL] === LEASE_LABEL_VALUE;
}

export function quotaInformer(kube: KubeClients, namespace: string, resyncMs: number, log: Logger): Informer<V1ResourceQuota> {
  const labelSelector = `${LEASE_LABEL}=${LEASE_LABEL_VALUE}`;
  return new Informer<V1ResourceQuota>({
    name: 'resourcequotas',
    kubeConfig: kube.kubeConfig,
    path: `/api/v1/namespaces/${namespace}/resourcequotas`,
    list: () => kube.core.listNamespacedResourceQuota({ namespace, labelSelector }),
    labelSelector,
    resyncMs,
    // An edit or a deletion is undone as fast as the watch reports it.
    backoff: { baseMs: 100, maxMs: 2000 },
    log,
  });
}

export interface QuotaGuardOptions {
  readonly namespace: string;
  readonly name: string;
  readonly limits: QuotaLimits;
  /** Only the active replica writes; the standby reads. */
  readonly leading: () => boolean;
  readonly log: Logger;
  readonly retryMs?: number;
}

export class ResourceQuotaGuard implements QuotaView {
  private limits: QuotaLimits;
  private running = false;
  private again = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly core: CoreV1Api,
    private readonly informer: Informer<V1ResourceQuota>,
    private readonly options: QuotaGuardOptions,
  ) {
    this.limits = options.limits;
    // Any change to the object (an edit, a deletion, a relist) is checked against what we want.
    this.unsubscribe = informer.onChange(() => void this.reconcile());
  }

  get name(): string {
    return this.options.name;
  }

  status(): QuotaStatus {
    const existing = this.current();
    const hard = existing?.status?.hard;
    return {
      name: this.options.name,
      desired: this.limits,
      // Until the quota controller has counted the namespace, status.hard is empty and the API server enforces nothing yet.
      observed: existing && hard ? { hard: limitsOf(hard), used: limitsOf(existing.status?.used) } : undefined,
    };
  }

  /** A reloaded capacity: the object follows at once. */
  setLimits(limits: QuotaLimits): void {
    if (limitsEqual(limits, this.limits)) return;
    this.limits = limits;
    void this.reconcile();
  }

  /** Brings the object in line with what we want; called on start, on every change, and when this replica starts leading. */
  async reconcile(): Promise<void> {
    if (this.stopped || !this.options.leading()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.applyOnce();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.options.log.warn({ quota: this.options.name, err: (err as Error).message }, 'resource quota not applied; retrying');
      this.scheduleRetry();
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private current(): V1ResourceQuota | undefined {
    return this.informer.items().find((q) => q.metadata?.name === this.options.name);
  }

  private async applyOnce(): Promise<void> {
    const { namespace, name, log } = this.options;
    const limits = this.limits;
    const existing = this.current();
    if (existing && matches(existing, limits)) return;
    const body = quotaManifest(name, namespace, limits);
    try {
      if (!existing) {
        await withRetry({ verb: 'create', resource: 'resourcequotas', namespace }, () => this.core.createNamespacedResourceQuota({ namespace, body }));
        log.info({ quota: name, hard: body.spec?.hard }, 'resource quota created');
        return;
      }
      await this.replace(existing.metadata?.resourceVersion, body);
    } catch (err) {
      if (!(err instanceof DomainError && err.kind === ErrorKind.AlreadyExists)) throw err;
      // Created by someone else, or changed since our watch saw it: read the newest and replace that.
      const fresh = await withRetry({ verb: 'get', resource: 'resourcequotas', namespace }, () => this.core.readNamespacedResourceQuota({ name, namespace }));
      if (!matches(fresh, limits)) await this.replace(fresh.metadata?.resourceVersion, body);
    }
  }

  private async replace(resourceVersion: string | undefined, body: V1ResourceQuota): Promise<void> {
    const { namespace, name, log } = this.options;
    await withRetry({ verb: 'update', resource: 'resourcequotas', namespace }, () =>
      this.core.replaceNamespacedResourceQuota({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion } } }),
    );
    log.warn({ quota: name, hard: body.spec?.hard }, 'resource quota replaced: it now limits the namespace to the capacity');
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconcile();
    }, this.options.retryMs ?? 5000);
    this.retryTimer.unref();
  }
}

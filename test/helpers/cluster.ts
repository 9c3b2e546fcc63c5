/**
 * Helpers for integration tests that talk to the real cluster brought up by
 * test/cluster/global-setup.ts (or the one named by TEST_KUBECONFIG).
 *
 * Each test file should work in its own namespace:
 *
 *   let ns: TestNamespace;
 *   beforeAll(async () => { ns = await createTestNamespace('watch'); });
 *   afterAll(async () => { await ns?.cleanup(); });
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject, type ProvidedContext } from 'vitest';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absolute path of the admin kubeconfig of the cluster under test. */
    kubeconfig: string;
    /** True when the cluster is the local KWOK cluster started by test/cluster/cluster.sh. */
    localCluster: boolean;
  }
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const localKubeconfig = path.join(path.resolve(repoRoot, process.env.CLUSTER_STATE_DIR ?? '.cluster'), 'kubeconfig');

/** Label put on every namespace made by createTestNamespace. */
export const TEST_NAMESPACE_LABEL = 'k8s-provider.test/namespace';

function injected<K extends 'kubeconfig' | 'localCluster'>(key: K): ProvidedContext[K] | undefined {
  try {
    return inject(key);
  } catch {
    return undefined; // not inside a vitest worker
  }
}

/** Absolute path of the admin kubeconfig of the cluster under test. */
export function kubeconfigPath(): string {
  const p = injected('kubeconfig') || process.env.TEST_KUBECONFIG || localKubeconfig;
  if (!existsSync(p)) {
    throw new Error(`kubeconfig ${p} does not exist: run "npm run cluster:up" or set TEST_KUBECONFIG`);
  }
  return p;
}

/** True when the tests run against the local KWOK cluster (fake nodes, metrics via KWOK). */
export function isLocalCluster(): boolean {
  const v = injected('localCluster');
  if (v !== undefined) return v;
  return !process.env.TEST_KUBECONFIG || path.resolve(process.env.TEST_KUBECONFIG) === localKubeconfig;
}

/** A KubeConfig loaded from kubeconfigPath(). */
export function makeKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** Polls `check` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface TestNamespace {
  name: string;
  /** Deletes the namespace (does not wait for it to be gone). Safe to call twice. */
  cleanup: () => Promise<void>;
}

/**
 * Creates a uniquely named namespace `<prefix>-<random>` and waits until its
 * default ServiceAccount exists (Pods are refused before that).
 */
export async function createTestNamespace(prefix: string): Promise<TestNamespace> {
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'test';
  const name = `${base}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({
    body: { metadata: { name, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } },
  });
  await waitFor(
    `the default ServiceAccount in namespace ${name}`,
    async () => {
      try {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
        return true;
      } catch (err) {
        if (httpStatusOf(err) === 404) return false;
        throw err;
      }
    },
    { timeoutMs: 30_000 },
  );
  let deleted = false;
  return {
    name,
    cleanup: async () => {
      if (deleted) return;
      deleted = true;
      try {
        await core.deleteNamespace({ name, propagationPolicy: 'Background' });
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
      }
    },
  };
}

/**
 * vitest globalSetup: makes sure a real Kubernetes API server is there for the
 * integration tests and hands its kubeconfig path to them.
 *
 * - TEST_KUBECONFIG set: that cluster (kind, k3s, a KWOK cluster, ...) is used
 *   as is; nothing is started.
 * - otherwise: `bash test/cluster/cluster.sh up` (builds the control plane from
 *   Go modules on first use, then starts it; a no-op when it is already up) and
 *   .cluster/kubeconfig is used.
 *
 * The cluster is deliberately left running after the tests (the next run then
 * starts in seconds); `npm run cluster:down` stops it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

// The ProvidedContext keys ('kubeconfig', 'localCluster') are declared there.
import type {} from '../helpers/cluster.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const clusterScript = path.join(repoRoot, 'test', 'cluster', 'cluster.sh');
// cluster.sh keeps its state in CLUSTER_STATE_DIR (default .cluster).
const localKubeconfig = path.join(path.resolve(repoRoot, process.env.CLUSTER_STATE_DIR ?? '.cluster'), 'kubeconfig');

function run(args: string[], quiet: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [clusterScript, ...args], {
      cwd: repoRoot,
      stdio: quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export default async function setup(project: TestProject): Promise<void> {
  const external = process.env.TEST_KUBECONFIG;
  if (external) {
    const resolved = path.resolve(external);
    if (!existsSync(resolved)) {
      throw new Error(`TEST_KUBECONFIG=${external}: no such file`);
    }
    process.env.TEST_KUBECONFIG = resolved;
    project.provide('kubeconfig', resolved);
    project.provide('localCluster', resolved === localKubeconfig);
    return;
  }

  // `up` is idempotent and takes ~1 s when the cluster is already healthy;
  // skip even that when the API server answers and the kubeconfig exists.
  const healthy = existsSync(localKubeconfig) && (await run(['status'], true)) === 0;
  if (!healthy) {
    const started = Date.now();
    process.stderr.write('[global-setup] bringing up the local Kubernetes cluster (test/cluster/cluster.sh up)\n');
    const code = await run(['up'], false);
    if (code !== 0) {
      throw new Error(`test/cluster/cluster.sh up failed with exit code ${code}; see the output above`);
    }
    process.stderr.write(`[global-setup] cluster ready after ${Math.round((Date.now() - started) / 1000)}s\n`);
  }
  process.env.TEST_KUBECONFIG = localKubeconfig;
  project.provide('kubeconfig', localKubeconfig);
  project.provide('localCluster', true);
}

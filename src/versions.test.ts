/**
 * The Kubernetes, etcd, KWOK, metrics-server and Go versions are written once,
 * in test/cluster/versions.env; the go.mod files that pin the modules and the
 * README that quotes them must agree with it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of read('test/cluster/versions.env').split('\n')) {
    const m = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe('versions.env', () => {
  const v = versions();

  it('declares every version the scripts read', () => {
    expect(Object.keys(v).sort()).toEqual(['ETCD_VERSION', 'GO_MIN_VERSION', 'KUBE_MINOR', 'KUBE_VERSION', 'KWOK_VERSION', 'METRICS_SERVER_VERSION']);
    expect(v.KUBE_VERSION).toMatch(new RegExp(`^v1\\.${v.KUBE_MINOR}\\.\\d+$`));
  });

  it('matches the go.mod files that pin the modules', () => {
    const kube = read('test/cluster/go/kube/go.mod');
    const kwok = read('test/cluster/go/kwok/go.mod');
    const node = read('test/cluster/go/node/go.mod');
    expect(kube).toContain(`k8s.io/kubernetes ${v.KUBE_VERSION}`);
    // The real node's kubelet and kube-proxy are the control plane's release, staging modules included.
    expect(node).toContain(`k8s.io/kubernetes ${v.KUBE_VERSION}`);
    expect(node).toContain(`k8s.io/kubelet => k8s.io/kubelet ${v.KUBE_VERSION?.replace(/^v1\./, 'v0.')}`);
    expect(kube).toContain(`go.etcd.io/etcd/server/v3 ${v.ETCD_VERSION}`);
    expect(kwok).toContain(`sigs.k8s.io/kwok ${v.KWOK_VERSION}`);
    expect(kwok).toContain(`sigs.k8s.io/metrics-server ${v.METRICS_SERVER_VERSION}`);
  });

  it('is what the README quotes', () => {
    const readme = read('README.md');
    for (const key of ['KUBE_VERSION', 'ETCD_VERSION', 'KWOK_VERSION', 'METRICS_SERVER_VERSION']) expect(readme).toContain(v[key]);
    expect(readme).toContain(`Go ≥ ${v.GO_MIN_VERSION}`);
    // No other Go minimum may linger in it.
    expect([...readme.matchAll(/Go ≥ (\d+(?:\.\d+)*)/g)].map((m) => m[1])).toEqual([v.GO_MIN_VERSION, v.GO_MIN_VERSION]);
  });
});

/**
 * The test tools' versions are written once, in test/tools/versions.env; the
 * wrapper go.mod files that pin the modules and the README that quotes them
 * must agree with it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of read('test/tools/versions.env').split('\n')) {
    const m = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The version go.mod requires of a module, or undefined. */
function required(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`^(?:require )?\\s*${escaped} (v\\S+)`, 'm').exec(read(goMod))?.[1];
}

describe('test/tools/versions.env', () => {
  const v = versions();

  it('is what the wrapper modules pin', () => {
    expect(required('test/tools/go/helm/go.mod', 'helm.sh/helm/v3')).toBe(v.HELM_VERSION);
    expect(required('test/tools/go/helm/go.mod', 'k8s.io/client-go')).toMatch(new RegExp(`^v0\\.${v.HELM_KUBE_MINOR}\\.\\d+$`));
    expect(required('test/tools/go/promtool/go.mod', 'github.com/prometheus/prometheus')).toBe(v.PROMETHEUS_VERSION);
    expect(v.PROMETHEUS_VERSION).toBe(
      `v0.${v.PROMTOOL_VERSION!.split('.')[0]}${v.PROMTOOL_VERSION!.split('.')[1]!.padStart(2, '0')}.${v.PROMTOOL_VERSION!.split('.')[2]}`,
    );
    expect(required('test/tools/go/prometheus-operator/go.mod', 'github.com/prometheus-operator/prometheus-operator')).toBe(v.PROMETHEUS_OPERATOR_VERSION);
  });

  it('is what the README quotes', () => {
    const readme = read('README.md');
    expect(readme).toContain(`helm ${v.HELM_VERSION} (\`helm.sh/helm/v3\`)`);
    expect(readme).toContain(`promtool ${v.PROMTOOL_VERSION} (\`github.com/prometheus/prometheus\` ${v.PROMETHEUS_VERSION}`);
    expect(readme).toContain(`prometheus-operator ${v.PROMETHEUS_OPERATOR_VERSION}`);
  });
});

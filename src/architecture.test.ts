/**
 * The shape of the code, checked: the core stays free of transport and
 * Kubernetes, adapters do not reach into each other, and no module graph
 * cycles creep in (madge would do the
 * latter, but its TypeScript peer range excludes the TypeScript we use).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !f.includes(`${join('adapters', 'grpc', 'generated')}`));
}

/** Specifiers of value imports (type-only imports vanish at run time, so they cannot form cycles). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
    if (!m[2]) out.push(m[3]!);
  }
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]!);
  return out;
}

/** Every relative import, type-only ones included, resolved to a path relative to src/. */
function dependencies(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?[^'";]*?from\s+'([^']+)'/gm), ...text.matchAll(/^\s*import\s+'([^']+)'/gm)].map(
    (m) => m[1]!,
  );
  return specs.filter((s) => s.startsWith('.')).map((s) => relative(src, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const under = (path: string, dir: string): boolean => path.startsWith(`${dir}/`);

/**
 * Where a module may import from. An adapter sees the core, the config, the
 * shared module and its own folder. The composition roots (main.ts,
 * daemon.ts) wire everything. The CLI is the operator's own program, a
 * client of the daemon and a reader of the cluster: it sees the core, the
 * config, the shared module and only the entry modules of the adapters it
 * uses (the gRPC contract, the kubeconfig loader, the pure observation of
 * pods and jobs), never their internals.
 */
function allowed(from: string, to: string): boolean {
  if (from === 'main.ts' || from === 'daemon.ts') return true;
  const common = under(to, 'core') || under(to, 'shared');
  if (under(from, 'core')) return under(to, 'core');
  if (under(from, 'shared')) return common;
  if (under(from, 'config')) return common || under(to, 'config');
  const adapter = /^adapters\/([^/]+)\//.exec(from)?.[1];
  if (adapter) return common || under(to, 'config') || under(to, `adapters/${adapter}`);
  if (under(from, 'cli')) return common || under(to, 'config') || under(to, 'cli') || CLI_ENTRY_MODULES.includes(to);
  return common || under(to, 'config');
}

const CLI_ENTRY_MODULES = ['adapters/grpc/contract.ts', 'adapters/kube/client.ts', 'adapters/kube/observe.ts'];

function forbiddenImports(): string[] {
  return sources(src).flatMap((file) => {
    const from = relative(src, file);
    return dependencies(file)
      .filter((to) => !allowed(from, to))
      .map((to) => `${from} imports ${to}`);
  });
}

describe('architecture', () => {
  it('keeps adapters out of each other: each imports only core, config, shared and its own folder', () => {
    expect(forbiddenImports()).toEqual([]);
  });

  it('would catch an adapter reaching into another, the CLI into adapter internals, or anything into the daemon', () => {
    expect(allowed('adapters/prometheus/exporter.ts', 'adapters/grpc/rpc.ts')).toBe(false);
    expect(allowed('adapters/usage/poller.ts', 'adapters/kube/labels.ts')).toBe(false);
    expect(allowed('adapters/usage/poller.ts', 'shared/kube-api-errors.ts')).toBe(true);
    expect(allowed('adapters/usage/poller.ts', 'adapters/usage/lister.ts')).toBe(true);
    expect(allowed('cli/run.ts', 'adapters/grpc/generated/provider/Service.ts')).toBe(false);
    expect(allowed('cli/run.ts', 'adapters/grpc/contract.ts')).toBe(true);
    expect(allowed('shared/labels.ts', 'adapters/kube/client.ts')).toBe(false);
    expect(allowed('adapters/grpc/server.ts', 'daemon.ts')).toBe(false);
    expect(allowed('daemon.ts', 'adapters/kube/informer.ts')).toBe(true);
  });

  it('keeps the core free of gRPC, Kubernetes, pino and prom-client', () => {
    const offenders = sources(join(src, 'core')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from\s+'([^']+)'/g)]
        .map((m) => m[1]!)
        .filter((spec) => /^(@grpc\/|@kubernetes\/|pino|prom-client)/.test(spec) || spec.includes('/adapters/'))
        .map((spec) => `${relative(src, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('has no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const file of sources(src)) {
      graph.set(
        file,
        imports(file)
          .filter((s) => s.startsWith('.'))
          .map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts')),
      );
    }
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(src, f)).join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
    expect(graph.size).toBeGreaterThan(30);
  });
});

/**
 * The shape of the code, checked: the core stays free of transport and
 * Kubernetes, and no module graph cycles creep in (madge would do the
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

describe('architecture', () => {
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

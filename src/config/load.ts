/**
 * Reads the config file named by --config (default ./config.yaml). Pure
 * apart from the injected file reader, so every error path is unit-tested.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadedConfig {
  readonly path: string;
  readonly config: Config;
  /** Deprecated keys that were accepted, each naming the key to use instead; logged once at start-up. */
  readonly warnings: readonly string[];
}

/** Keys that moved: old path -> new path. The old one keeps working, with a warning. */
export const RENAMED_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['metrics.interval_seconds', 'usage.interval_seconds'],
  ['metrics.host', 'prometheus.host'],
  ['metrics.port', 'prometheus.port'],
];

export interface LoadContext {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly readFile: (path: string) => string;
}

export function configPathFrom(argv: readonly string[], cwd: string): string {
  const { values } = parseArgs({
    args: [...argv],
    options: { config: { type: 'string', short: 'c' } },
    allowPositionals: false,
    strict: true,
  });
  return resolve(cwd, values.config ?? 'config.yaml');
}

export function loadConfig(ctx: LoadContext): LoadedConfig {
  const path = configPathFrom(ctx.argv, ctx.cwd);
  let text: string;
  try {
    text = ctx.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigError(path, [`cannot read ${path}: ${why}`]);
  }
  const warnings: string[] = [];
  return { path, config: parseConfig(text, path, (w) => warnings.push(w)), warnings };
}

/**
 * Parses YAML text; relative file paths in it are taken relative to the
 * file's directory. Deprecated keys are moved to their new place and
 * reported through `warn`, once for the whole file.
 */
export function parseConfig(text: string, path: string, warn: (message: string) => void = () => {}): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(path, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(path, ['the top level must be a mapping']);

  const renamed = moveRenamedKeys(raw as Record<string, unknown>);
  if (renamed.problems.length > 0) throw new ConfigError(path, renamed.problems);
  if (renamed.moved.length > 0) {
    warn(`deprecated config keys in ${path}: ${renamed.moved.map(([from, to]) => `${from} is now ${to}`).join(', ')}`);
  }

  const result = configSchema.safeParse(renamed.raw);
  if (!result.success) {
    throw new ConfigError(
      path,
      result.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown key (check the spelling)`)
          : [`${issue.path.join('.') || '(top level)'}: ${issue.message}`],
      ),
    );
  }
  const config = result.data;
  const base = dirname(path);
  const rel = (p: string): string => (p === '' || isAbsolute(p) ? p : resolve(base, p));
  config.kubernetes.kubeconfig = rel(config.kubernetes.kubeconfig);
  if (config.server.tls) {
    config.server.tls.cert_file = rel(config.server.tls.cert_file);
    config.server.tls.key_file = rel(config.server.tls.key_file);
    if (config.server.tls.client_ca_file) config.server.tls.client_ca_file = rel(config.server.tls.client_ca_file);
  }
  return config;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Moves each deprecated key to its new path. Both set at once is an error
 * (which one wins would be a guess); a section left empty by the move is
 * dropped, and anything else left in it stays for the schema to reject.
 */
export function moveRenamedKeys(raw: Record<string, unknown>): {
  raw: Record<string, unknown>;
  moved: Array<readonly [string, string]>;
  problems: string[];
} {
  const out: Record<string, unknown> = { ...raw };
  const moved: Array<readonly [string, string]> = [];
  const problems: string[] = [];
  for (const [from, to] of RENAMED_KEYS) {
    const [fromSection, fromKey] = from.split('.') as [string, string];
    const [toSection, toKey] = to.split('.') as [string, string];
    const source = out[fromSection];
    if (!isMapping(source) || !(fromKey in source)) continue;
    const target = out[toSection] ?? {};
    if (!isMapping(target)) continue; // the schema reports the wrong type of the new section
    if (toKey in target) {
      problems.push(`${from}: deprecated and ${to} is also set; keep only ${to}`);
      continue;
    }
    const { [fromKey]: value, ...rest } = source;
    out[toSection] = { ...target, [toKey]: value };
    out[fromSection] = rest;
    moved.push([from, to]);
  }
  for (const [from] of RENAMED_KEYS) {
    const [section = ''] = from.split('.');
    if (isMapping(out[section]) && Object.keys(out[section]).length === 0) delete out[section];
  }
  return { raw: out, moved, problems };
}

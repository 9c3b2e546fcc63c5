/**
 * Reads the config file named by --config (default ./config.yaml), with the
 * K8S_PROVIDER_* environment variables over it. Pure apart from the injected
 * file reader and environment, so every error path is unit-tested.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LineCounter, parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { applyEnv, settingsOf, type Setting } from './env.js';
import { configJsonSchema } from './json-schema.js';
import { lineOf } from './locate.js';

/** One problem of a config: the key, where it was set (file line or variable), and what is wrong. */
export interface ConfigIssue {
  /** Dotted key path; '' for a problem of the whole file (YAML syntax, unreadable). */
  readonly key: string;
  readonly message: string;
  readonly line?: number;
  /** The environment variable that set the key, when one did. */
  readonly env?: string;
}

const describeIssue = (i: ConfigIssue): string => (i.key ? `${i.key}: ${i.message}` : i.message);

/** "FILE:LINE: key: message", or "VARIABLE: key: message" for a value from the environment. */
export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.env ? `${i.env}: ` : i.line !== undefined ? `${file}:${i.line}: ` : `${file}: `;
  return where + describeIssue(i);
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  readonly issues: readonly ConfigIssue[];
  /** "key: message" per problem. */
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly (string | ConfigIssue)[]) {
    const issues = problems.map((p) => (typeof p === 'string' ? { key: '', message: p } : p));
    super(`invalid config ${file}:\n${issues.map((i) => `  - ${formatIssue(file, i)}`).join('\n')}`);
    this.file = file;
    this.issues = issues;
    this.problems = issues.map(describeIssue);
  }
}

/** The settings that variables may set, from the schema (computed once). */
let settingsCache: Setting[] | undefined;
export function envSettings(): readonly Setting[] {
  if (!settingsCache) settingsCache = settingsOf(configJsonSchema() as Parameters<typeof settingsOf>[0]);
  return settingsCache;
}

/**
 * K8S_PROVIDER_* variables that name no setting. Kubernetes' service links for
 * a Service named k8s-provider (K8S_PROVIDER_SERVICE_HOST, K8S_PROVIDER_PORT_...)
 * share the prefix and are not ours to report.
 */
export function unknownEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return applyEnv({}, env, envSettings()).unknown.filter((n) => !/^K8S_PROVIDER_(SERVICE_|PORT($|_))/.test(n));
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
  /** The environment; K8S_PROVIDER_* variables win over the file. */
  readonly env?: Readonly<Record<string, string | undefined>>;
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
  return { path, config: parseConfig(text, path, (w) => warnings.push(w), ctx.env), warnings };
}

/**
 * Parses YAML text, with the K8S_PROVIDER_* variables of `env` over it;
 * relative file paths are taken relative to the file's directory. Every
 * problem is reported at once, with its line (or variable). Deprecated keys
 * are moved to their new place and reported through `warn`, once for the
 * whole file.
 */
export function parseConfig(
  text: string,
  path: string,
  warn: (message: string) => void = () => {},
  env: Readonly<Record<string, string | undefined>> = {},
): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => ({ key: '', message: `YAML: ${e.message.split('\n')[0]}`, ...(e.linePos ? { line: e.linePos[0].line } : {}) })),
    );
  }
  let raw: unknown;
  try {
    // Some documents parse but cannot become values (an alias used before its anchor).
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(path, [`YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(path, ['the top level must be a mapping']);

  const renamed = moveRenamedKeys(raw as Record<string, unknown>);
  if (renamed.problems.length > 0) throw new ConfigError(path, renamed.problems);
  if (renamed.moved.length > 0) {
    warn(`deprecated config keys in ${path}: ${renamed.moved.map(([from, to]) => `${from} is now ${to}`).join(', ')}`);
  }
  const { raw: merged, fromEnv } = applyEnv(renamed.raw, env, envSettings());

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = (keyPath: readonly PropertyKey[], said: string): ConfigIssue => {
      const key = displayKey(keyPath);
      const message = oneLine(said);
      // A list element's problem belongs to the variable that set the list.
      const variable = [...fromEnv].find(([k]) => key === k || key.startsWith(`${k}.`))?.[1];
      if (variable) return { key, message, env: variable };
      // A key moved from its deprecated name is on the line of the old name.
      const movedFrom = renamed.moved.find(([, to]) => key === to || key.startsWith(`${to}.`));
      const written = movedFrom ? [...movedFrom[0].split('.'), ...keyPath.slice(movedFrom[1].split('.').length)] : keyPath;
      const line = lineOf(
        doc,
        lines,
        written.map((k) => (typeof k === 'number' ? k : String(k))),
      );
      return { key: key || '(top level)', message, ...(line !== undefined ? { line } : {}) };
    };
    throw new ConfigError(
      path,
      result.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys' ? i.keys.map((k) => issue([...i.path, k], 'unknown key (check the spelling)')) : [issue(i.path, i.message)],
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
  if (config.server.auth) config.server.auth.token_file = rel(config.server.auth.token_file);
  return config;
}

/** A key path as a user would type it; a key with spaces, quotes or control characters is shown JSON-quoted, so every problem stays one line. */
export function displayKey(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((k) => (typeof k === 'number' || (typeof k === 'string' && /^[\x21-\x7e]+$/.test(k) && !k.includes('"')) ? String(k) : JSON.stringify(String(k))))
    .join('.');
}

const oneLine = (message: string): string => message.replace(/\s*[\r\n]+\s*/g, ' ');

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

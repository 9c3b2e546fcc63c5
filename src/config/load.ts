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
}

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
  return { path, config: parseConfig(text, path) };
}

/** Parses YAML text; relative file paths in it are taken relative to the file's directory. */
export function parseConfig(text: string, path: string): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(path, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(path, ['the top level must be a mapping']);

  const result = configSchema.safeParse(raw);
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

/**
 * Every setting can come from an environment variable: K8S_PROVIDER_ and the
 * key's path in upper case, joined by "_" (server.port is
 * K8S_PROVIDER_SERVER_PORT, resource_tags is K8S_PROVIDER_RESOURCE_TAGS). A
 * variable wins over the file. The names are derived from the schema, so a new
 * key gets its variable without a table to keep up to date.
 */
import { parse as parseYaml } from 'yaml';

export const ENV_PREFIX = 'K8S_PROVIDER_';

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
};

export type LeafKind = 'string' | 'number' | 'boolean' | 'array' | 'number-or-string';

export interface Setting {
  readonly path: readonly string[];
  readonly env: string;
  readonly kind: LeafKind;
}

export const envName = (path: readonly string[]): string => ENV_PREFIX + path.join('_').toUpperCase();

function kindOf(s: JsonSchema): LeafKind {
  const types = new Set([s.type ?? [], ...(s.anyOf ?? []).map((a) => a.type ?? [])].flat());
  if (s.enum && types.size === 0) types.add('string');
  if (types.has('array')) return 'array';
  if (types.has('boolean')) return 'boolean';
  const numeric = types.has('number') || types.has('integer');
  if (numeric && types.has('string')) return 'number-or-string';
  return numeric ? 'number' : 'string';
}

/** Every leaf setting of the config's JSON Schema, with its variable name. */
export function settingsOf(schema: JsonSchema, prefix: readonly string[] = []): Setting[] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, sub]) => {
    const path = [...prefix, key];
    // An optional section may come as anyOf [object, ...]: its keys are those of the object branch.
    const section = sub.properties ? sub : (sub.anyOf ?? []).find((a) => a.properties !== undefined);
    if (section) return settingsOf(section, path);
    return [{ path, env: envName(path), kind: kindOf(sub) }];
  });
}

/** The value a variable's text stands for; what cannot be read as the key's kind is left as text, for the schema to refuse by name. */
export function envValue(kind: LeafKind, text: string): unknown {
  const t = text.trim();
  switch (kind) {
    case 'string':
      return text;
    case 'boolean':
      return t === 'true' ? true : t === 'false' ? false : text;
    case 'number':
      return t !== '' && Number.isFinite(Number(t)) ? Number(t) : text;
    case 'number-or-string':
      return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
    case 'array':
      if (t.startsWith('[')) {
        try {
          return parseYaml(t) as unknown;
        } catch {
          return text;
        }
      }
      return t === '' ? [] : t.split(',').map((x) => x.trim());
  }
}

export interface EnvApplied {
  /** The config with every variable's value in place. */
  readonly raw: Record<string, unknown>;
  /** Dotted key path -> the variable that set it. */
  readonly fromEnv: ReadonlyMap<string, string>;
  /** Variables with the prefix that name no setting. */
  readonly unknown: readonly string[];
}

/** Puts the value of every K8S_PROVIDER_* variable into the config read from the file. */
export function applyEnv(raw: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>, settings: readonly Setting[]): EnvApplied {
  const out = structuredClone(raw);
  const byName = new Map(settings.map((s) => [s.env, s]));
  const fromEnv = new Map<string, string>();
  const unknown: string[] = [];
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || text === undefined) continue;
    const setting = byName.get(name);
    if (!setting) {
      unknown.push(name);
      continue;
    }
    let node = out;
    const parents = setting.path.slice(0, -1);
    const leaf = setting.path[setting.path.length - 1] ?? '';
    for (const key of parents) {
      const next = node[key];
      if (!next || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[leaf] = envValue(setting.kind, text);
    fromEnv.set(setting.path.join('.'), name);
  }
  return { raw: out, fromEnv, unknown: unknown.sort() };
}

/**
 * Property tests of the config loader: every invalid config is refused with
 * a ConfigError whose problems are one line each and name the offending key
 * by its path; any text at all gives a Config or a ConfigError, never
 * another exception.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.js';

type Kind = 'int' | 'port' | 'string' | 'bool' | 'enum' | 'quantity' | 'tags' | 'images' | 'uid';

/** Every leaf key a user can set, with the kind of value it takes. */
const LEAVES: ReadonlyArray<readonly [string, Kind]> = [
  ['server.host', 'string'],
  ['server.port', 'port'],
  ['server.max_receive_message_bytes', 'int'],
  ['server.shutdown_grace_seconds', 'int'],
  ['server.tls.cert_file', 'string'],
  ['server.tls.key_file', 'string'],
  ['server.tls.client_ca_file', 'string'],
  ['server.auth.token_file', 'string'],
  ['server.auth.unauthenticated_health', 'bool'],
  ['server.auth.unauthenticated_reflection', 'bool'],
  ['kubernetes.kubeconfig', 'string'],
  ['kubernetes.namespace', 'string'],
  ['kubernetes.in_cluster', 'bool'],
  ['kubernetes.label_selector', 'string'],
  ['kubernetes.resync_seconds', 'int'],
  ['resource.mode', 'enum'],
  ['resource.cpu', 'quantity'],
  ['resource.memory', 'quantity'],
  ['resource.gpu', 'int'],
  ['resource_tags', 'tags'],
  ['session.health_timeout_seconds', 'int'],
  ['jobs.timeout_seconds', 'int'],
  ['jobs.cleanup_policy', 'enum'],
  ['limits.max_instances', 'int'],
  ['log.level', 'enum'],
  ['usage.interval_seconds', 'int'],
  ['prometheus.host', 'string'],
  ['prometheus.port', 'port'],
  ['workloads.allowed_images', 'images'],
  ['workloads.security.run_as_non_root', 'bool'],
  ['workloads.security.run_as_user', 'uid'],
  ['workloads.security.allow_privilege_escalation', 'bool'],
  ['workloads.security.privileged', 'bool'],
  ['workloads.security.drop_all_capabilities', 'bool'],
  ['workloads.security.seccomp_profile', 'enum'],
  ['workloads.security.automount_service_account_token', 'bool'],
  ['workloads.security.enable_service_links', 'bool'],
];

const notAnything = fc.constantFrom<unknown>({ nested: 1 }, [1, 2], null);
/** Values each kind refuses (null is refused by every key except run_as_user, which is not given it). */
const WRONG: Record<Kind, fc.Arbitrary<unknown>> = {
  int: fc.oneof(fc.constantFrom<unknown>(-1, 1.5, 'ten', true, '', 1e300), notAnything),
  port: fc.oneof(fc.constantFrom<unknown>(-1, 65536, 80.5, 'http', false), notAnything),
  // '' is a valid value of some string keys (kubeconfig, label_selector), so it is not used here.
  string: fc.constantFrom<unknown>(42, true, { nested: 1 }, [1, 2]),
  bool: fc.oneof(fc.constantFrom<unknown>('yes', 'true', 1, 0, ''), notAnything),
  enum: fc.oneof(
    fc
      .string({ maxLength: 12 })
      .filter(
        (s) =>
          ![
            'static',
            'auto',
            'Always',
            'OnSuccess',
            'OnFailure',
            'info',
            'debug',
            'trace',
            'warn',
            'error',
            'fatal',
            'silent',
            'RuntimeDefault',
            'Unconfined',
          ].includes(s),
      ),
    notAnything,
  ),
  quantity: fc.oneof(fc.constantFrom<unknown>('lots', -1, '-5Gi', '1.5.5', true, '1e400'), fc.constantFrom<unknown>({ nested: 1 }, [1, 2])),
  tags: fc.constantFrom<unknown>('cpu', ['bogus'], [1], { cpu: true }),
  images: fc.constantFrom<unknown>('busybox', [''], ['a b'], [1], { a: 1 }),
  uid: fc.constantFrom<unknown>(-1, 1.5, 'root', 2 ** 31, true, [1]),
};

const BASE = (): Record<string, unknown> => ({ resource: { cpu: 1000, memory: '1Gi' } });

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = value;
}

const KNOWN_KEYS = new Set([
  'server',
  'kubernetes',
  'resource',
  'resource_tags',
  'session',
  'jobs',
  'limits',
  'log',
  'usage',
  'prometheus',
  'workloads',
  'metrics',
  'host',
  'port',
  'tls',
  'auth',
  'cpu',
  'memory',
  'gpu',
  'mode',
  'security',
  'level',
  'token_file',
  'cert_file',
  'key_file',
  'client_ca_file',
  'allowed_images',
  'kubeconfig',
  'namespace',
  'in_cluster',
  'label_selector',
  'resync_seconds',
  'timeout_seconds',
  'cleanup_policy',
  'max_receive_message_bytes',
  'shutdown_grace_seconds',
  'unauthenticated_health',
  'unauthenticated_reflection',
]);

const isKnownKey = (k: string): boolean => KNOWN_KEYS.has(k) || k.startsWith('run_as') || /^(allow|privileged|drop|seccomp|automount|enable)/.test(k);

/** Sets one key (which may itself contain dots or be "__proto__") inside a section given as a dotted path. */
function setKey(raw: Record<string, unknown>, section: string, k: string): void {
  let at = raw;
  for (const part of section ? section.split('.') : []) {
    if (typeof at[part] !== 'object' || at[part] === null) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  Object.defineProperty(at, k, { value: 1, enumerable: true, configurable: true, writable: true });
}

function problemsOf(text: string): string[] | 'accepted' {
  try {
    parseConfig(text, '/etc/k8s-provider/config.yaml');
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${String(err)}`, { cause: err });
    return [...err.problems];
  }
}

const oneLine = (problems: string[]): void => {
  for (const p of problems) expect(p, p).not.toMatch(/[\n\r]/);
};

describe('parseConfig on invalid configs', () => {
  it('a wrong value at any key is refused, naming that key, one line per problem (1500 runs)', () => {
    const mutation = fc.constantFrom(...LEAVES).chain(([path, kind]) => WRONG[kind].map((value) => ({ path, value })));
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const raw = BASE();
        for (const m of mutations) setPath(raw, m.path, m.value);
        const problems = problemsOf(stringify(raw));
        expect(problems).not.toBe('accepted');
        oneLine(problems as string[]);
        // The last write to a path wins; each surviving wrong value is named.
        const final = new Map(mutations.map((m) => [m.path, m.value]));
        for (const path of final.keys()) {
          const named = (problems as string[]).some((p) => p.startsWith(`${path}:`) || p.startsWith(`${path}.`) || path.startsWith(p.split(':')[0]!));
          expect(named, `${path} in ${JSON.stringify(problems)}`).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  }, 120_000);

  it('an unknown key anywhere is refused, named by its path (1000 runs)', () => {
    const sections = ['', 'server', 'server.tls', 'server.auth', 'kubernetes', 'resource', 'jobs', 'workloads', 'workloads.security', 'prometheus', 'log'];
    const key = fc.oneof(
      fc.stringMatching(/^[a-z_]{1,12}$/),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      fc.constantFrom('a\nb', 'x: y', '#', ' '),
    );
    fc.assert(
      fc.property(fc.constantFrom(...sections), key, (section, k) => {
        const raw = BASE();
        if (section === 'server.tls') setPath(raw, 'server.tls', { cert_file: 'c', key_file: 'k' });
        if (section === 'server.auth') setPath(raw, 'server.auth', { token_file: 't' });
        fc.pre(!isKnownKey(k));
        setKey(raw, section, k);
        const problems = problemsOf(stringify(raw));
        expect(problems).not.toBe('accepted');
        oneLine(problems as string[]);
        const shown = JSON.stringify(k).slice(1, -1);
        expect(problems, `${shown} ${JSON.stringify(problems)}`).toContain(
          `${section ? `${section}.` : ''}${/^[\x21-\x7e]+$/.test(k) && !k.includes('"') ? k : JSON.stringify(k)}: unknown key (check the spelling)`,
        );
      }),
      { numRuns: 1000 },
    );
  }, 120_000);

  it('any text at all gives a Config or a ConfigError with one-line problems (2000 runs)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .array(
          fc.constantFrom(
            'server:',
            '  port: 1',
            'resource: {cpu: 1, memory: 1}',
            '- a',
            ': :',
            '{',
            '"',
            '&a',
            '*a',
            '!!binary x',
            '\t',
            '---',
            'a: &x [*x]',
            '<<: *y',
          ),
          { maxLength: 8 },
        )
        .map((l) => l.join('\n')),
    );
    fc.assert(
      fc.property(text, (t) => {
        const problems = problemsOf(t);
        if (problems !== 'accepted') {
          expect(problems.length).toBeGreaterThan(0);
          oneLine(problems);
        }
      }),
      { numRuns: 2000 },
    );
  }, 120_000);
});

/**
 * fast-check arbitraries for what a hostile or broken control plane can
 * send: odd unicode, path-like and boundary-length ids, huge and invalid env
 * maps, out-of-range int64s and malformed image references. Shared by the
 * unit property tests (src/) and the integration test against a daemon.
 */
import fc from 'fast-check';
import type { DeployRequest } from '../../src/adapters/grpc/generated/provider/DeployRequest.js';

/** Strings that break naive code: control characters, RTL marks, surrogates, NULs, path tricks, shell and template syntax. */
const TEMPLATE = ['$', '{HOME}'].join('');
export const oddString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\n',
    '\u202e',
    '\ud800',
    '😀',
    'ǅ',
    'İ',
    '\u200b',
    'a\u0301',
    '%2e%2e%2f',
    TEMPLATE,
    '$(id)',
    "'; DROP TABLE x;--",
    '<script>',
  ),
);

export const pathLike = fc.oneof(
  fc.constantFrom('../../etc/passwd', '/', '.', '..', './a', 'a/../b', 'C:\\Windows', '\\\\server\\share', '/var/run/secrets/kubernetes.io', 'a//b', '~root'),
  fc.array(fc.constantFrom('..', '.', 'a', 'etc', '', '%2f', 'x y'), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/')),
);

/** Ids at and around the limits that matter: 63 (a label), 253 (a name, our maximum). */
export const boundaryId = fc.oneof(
  fc.constantFrom(63, 64, 253, 254).chain((n) => fc.oneof(fc.constant('a'.repeat(n)), fc.string({ unit: 'grapheme-ascii', minLength: n, maxLength: n }))),
  fc.constantFrom(62, 63, 64).map((n) => `${'A'.repeat(n)}.-_`),
);

export const instanceId = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/) },
  { weight: 2, arbitrary: oddString },
  { weight: 2, arbitrary: pathLike },
  { weight: 2, arbitrary: boundaryId },
);

/** int64 values on the wire (decimal strings, as the loader delivers them) around every edge. */
export const int64 = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 4000 }).map(String) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('0', '-1', '-0', '9007199254740991', '9007199254740992', '-9007199254740993', '9223372036854775807', '-9223372036854775808'),
  },
);

export const validImage = fc.constantFrom(
  'busybox',
  'busybox:1.36',
  'docker.io/library/busybox:latest',
  'registry.example.com:5000/team/comp:v1',
  `repo@sha256:${'b'.repeat(64)}`,
  'ghcr.io/a/b/c',
);
export const image = fc.oneof(
  { weight: 8, arbitrary: validImage },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'busy box',
      'UPPER',
      'a:',
      ':tag',
      '@sha256:x',
      'a@sha256:zz',
      'http://x/y',
      'a//b',
      '-a',
      `a:${'t'.repeat(200)}`,
      'x'.repeat(300),
      'r.io:port/a',
      '[::1/a',
    ),
  },
  { weight: 1, arbitrary: oddString },
);

const envName = fc.oneof(
  { weight: 30, arbitrary: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,15}$/) },
  { weight: 1, arbitrary: oddString.filter((s) => s !== '') },
  { weight: 1, arbitrary: fc.constantFrom('1BAD', 'A B', 'A=B', 'ä', 'A\u0000', '-', '.', 'x'.repeat(300)) },
);
const envValue = fc.oneof({ weight: 4, arbitrary: oddString }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((n) => 'v'.repeat(n)) });

/** Env maps: small and odd, or huge (hundreds of keys). */
export const env = (maxKeys = 30): fc.Arbitrary<Record<string, string>> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    { weight: 5, arbitrary: fc.dictionary(envName, envValue, { maxKeys }) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 600 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`K_${i}`, `value-${i}`]))) },
  );

const mapOf = fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/), oddString), fc.oneof(fc.stringMatching(/^[a-z0-9]{0,10}$/), oddString), {
  maxKeys: 4,
});

export const workload = fc.record(
  {
    kind: fc.constantFrom('POD', 'JOB', 'WORKLOAD_KIND_UNSPECIFIED'),
    command: fc.array(oddString, { maxLength: 3 }),
    args: fc.array(oddString, { maxLength: 3 }),
    ports: fc.array(
      fc.record({
        name: fc.oneof(fc.constantFrom('', 'http', 'HTTP'), oddString),
        containerPort: fc.integer({ min: -5, max: 70_000 }),
        protocol: fc.constantFrom('', 'TCP', 'udp', 'ICMP'),
      }),
      {
        maxLength: 3,
      },
    ),
    timeoutSeconds: int64,
    cleanupPolicy: fc.constantFrom('ALWAYS', 'ON_SUCCESS', 'ON_FAILURE', 'CLEANUP_POLICY_UNSPECIFIED'),
    backoffLimit: fc.integer({ min: -3, max: 10 }),
    labels: mapOf,
    annotations: mapOf,
    nodeSelector: mapOf,
    tolerations: fc.array(
      fc.record({
        key: fc.oneof(fc.constantFrom('', 'dedicated'), oddString),
        operator: fc.constantFrom('', 'Equal', 'Exists', 'Maybe'),
        value: oddString,
        effect: fc.constantFrom('', 'NoSchedule', 'NoExecute', 'Later'),
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

/** A DeployRequest as a client would build it (proto-loader's input shape). */
export const deployRequest = (providerId: string, options: { maxEnvKeys?: number } = {}): fc.Arbitrary<DeployRequest> =>
  fc.record(
    {
      providerId: fc.oneof({ weight: 9, arbitrary: fc.constant(providerId) }, { weight: 1, arbitrary: oddString }),
      instanceId,
      image,
      resourceRequest: fc.record(
        { cpu: int64, memory: int64, gpu: fc.oneof({ weight: 4, arbitrary: fc.constant('0') }, { weight: 1, arbitrary: int64 }) },
        { requiredKeys: [] },
      ),
      envVars: env(options.maxEnvKeys),
      workload: fc.option(workload, { nil: undefined, freq: 2 }),
    },
    { requiredKeys: ['providerId', 'instanceId', 'image', 'resourceRequest'] },
  ) as fc.Arbitrary<DeployRequest>;

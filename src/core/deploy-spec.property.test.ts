/**
 * Property tests: whatever a caller sends, validateDeploy returns a spec
 * that holds its invariants or throws a DomainError INVALID_ARGUMENT with a
 * one-line, bounded message; never anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { env, image, instanceId, oddString } from '../../test/helpers/hostile.js';
import { DomainError, ErrorKind } from './errors.js';
import { MAX_INSTANCE_ID_LENGTH, validateDeploy, type DeployInput, type DeploySpec } from './deploy-spec.js';
import { parseImageReference } from './images.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };

/** Numbers as a buggy decoder could hand them over: NaN, infinities, fractions, -0, beyond 2^53. */
const number = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, -0, -1, 1.5, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.MIN_SAFE_INTEGER),
  },
);

const input: fc.Arbitrary<DeployInput> = fc.record({
  instanceId,
  providerId: oddString,
  image,
  resources: fc.record({ cpu: number, memory: number, gpu: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: number }) }),
  env: fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 3, arbitrary: env() }),
  workload: fc.option(
    fc.record(
      {
        kind: fc.constantFrom('Pod' as const, 'Job' as const, undefined),
        timeoutSeconds: fc.option(number, { nil: undefined }),
        backoffLimit: fc.option(number, { nil: undefined }),
        cleanupPolicy: fc.constantFrom('Always' as const, 'OnSuccess' as const, 'OnFailure' as const, undefined),
        ports: fc.array(fc.record({ name: oddString, containerPort: number, protocol: oddString }), { maxLength: 3 }),
        labels: fc.dictionary(oddString, oddString, { maxKeys: 3 }),
        annotations: fc.dictionary(oddString, oddString, { maxKeys: 3 }),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined, freq: 2 },
  ),
});

function outcome(run: () => DeploySpec): DeploySpec | DomainError {
  try {
    return run();
  } catch (err) {
    return err as DomainError;
  }
}

describe('validateDeploy on hostile input', () => {
  it('returns a sound spec or a clean INVALID_ARGUMENT, never another throw (3000 runs)', () => {
    let valid = 0;
    fc.assert(
      fc.property(input, (req) => {
        const result = outcome(() => validateDeploy(req, defaults));
        if (result instanceof DomainError) {
          expect(result.kind).toBe(ErrorKind.InvalidArgument);
          expect(result.message).not.toMatch(/[\n\r]/);
          // 20 problems at most, each quoting at most 200 characters of a value.
          expect(result.message.length).toBeLessThan(20 * 600);
          return;
        }
        expect(result).not.toBeInstanceOf(Error);
        valid++;
        const spec = result;
        expect(spec.instanceId.length).toBeGreaterThan(0);
        expect(spec.instanceId.length).toBeLessThanOrEqual(MAX_INSTANCE_ID_LENGTH);
        expect(Number.isSafeInteger(spec.resources.cpu) && spec.resources.cpu > 0).toBe(true);
        expect(Number.isSafeInteger(spec.resources.memory) && spec.resources.memory > 0).toBe(true);
        expect(Number.isSafeInteger(spec.resources.gpu) && spec.resources.gpu >= 0).toBe(true);
        expect(typeof parseImageReference(spec.image)).toBe('object');
        for (const name of Object.keys(spec.env)) expect(name).toMatch(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/);
        expect(spec.specHash).toMatch(/^[0-9a-f]{16}$/);
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the success path too, or the test proves little.
    expect(valid).toBeGreaterThan(30);
  }, 120_000);

  it('is deterministic: the same request always gets the same answer and hash', () => {
    fc.assert(
      fc.property(input, (req) => {
        const a = outcome(() => validateDeploy(req, defaults));
        const b = outcome(() => validateDeploy(structuredClone(req), defaults));
        if (a instanceof DomainError) expect((b as DomainError).message).toBe(a.message);
        else expect((b as DeploySpec).specHash).toBe(a.specHash);
      }),
      { numRuns: 500 },
    );
  }, 120_000);
});

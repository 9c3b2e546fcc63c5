/**
 * Property tests of the wire path a Deploy takes in the daemon: bytes ->
 * the (tolerant) protobuf deserializer -> deployFromWire -> validateDeploy.
 * Every input ends as a spec or a clean INVALID_ARGUMENT; bytes that are not
 * a DeployRequest become a MalformedRequest, which the wrappers answer
 * INVALID_ARGUMENT. Nothing else may come out, and nothing may throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deployRequest } from '../../../test/helpers/hostile.js';
import { DomainError, ErrorKind } from '../../core/errors.js';
import { validateDeploy } from '../../core/deploy-spec.js';
import { deployFromWire, int64ToNumber } from './codec.js';
import { PROVIDER_PROTO, serviceDefinition } from './proto.js';
import { MalformedRequest } from './rpc.js';
import { tolerant } from './services.js';
import type { DeployRequest__Output } from './generated/provider/DeployRequest.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const definition = serviceDefinition(PROVIDER_PROTO, 'provider.Service');
const deploy = definition.Deploy!;
const decode = tolerant(definition).Deploy!.requestDeserialize as (b: Buffer) => DeployRequest__Output | MalformedRequest;

type Outcome = 'spec' | 'INVALID_ARGUMENT' | 'MALFORMED';

/** What the daemon does with the bytes of one Deploy, up to the point where it would admit it. */
function handle(bytes: Buffer): Outcome {
  const req = decode(bytes);
  if (req instanceof MalformedRequest) return 'MALFORMED';
  try {
    validateDeploy(deployFromWire(req), defaults);
    return 'spec';
  } catch (err) {
    if (!(err instanceof DomainError)) throw new Error(`not a DomainError: ${String(err)}`, { cause: err });
    expect(err.kind).toBe(ErrorKind.InvalidArgument);
    return 'INVALID_ARGUMENT';
  }
}

describe('the Deploy wire path on hostile input', () => {
  it('structured requests with odd unicode, path-like ids, huge env maps and int64 edges (2000 runs)', () => {
    const seen = new Set<Outcome>();
    fc.assert(
      fc.property(deployRequest('cp'), (req) => {
        const outcome = handle(deploy.requestSerialize(req));
        seen.add(outcome);
        expect(outcome).not.toBe('MALFORMED');
      }),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual(['INVALID_ARGUMENT', 'spec']);
  }, 120_000);

  it('random bytes, and valid messages with bytes flipped, cut or appended (3000 runs)', () => {
    const seen = new Set<Outcome>();
    const mangled = fc
      .tuple(deployRequest('cp', { maxEnvKeys: 5 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'append'))
      .map(([req, at, byte, how]) => {
        const b = Buffer.from(deploy.requestSerialize(req));
        if (b.length === 0) return Buffer.from([byte]);
        const i = at % b.length;
        if (how === 'flip') b[i] = byte;
        return how === 'cut' ? b.subarray(0, i) : how === 'append' ? Buffer.concat([b, Buffer.from([byte, byte])]) : b;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
          mangled,
        ),
        (bytes) => {
          seen.add(handle(bytes));
        },
      ),
      { numRuns: 3000 },
    );
    expect(seen.has('MALFORMED')).toBe(true);
    expect(seen.has('INVALID_ARGUMENT')).toBe(true);
  }, 120_000);

  it('int64ToNumber takes every int64 exactly within 2^53 and refuses the rest, cleanly', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String), fc.string()), (raw) => {
        try {
          const n = int64ToNumber(raw, 'f');
          expect(Number.isSafeInteger(n)).toBe(true);
          expect(BigInt(n)).toBe(raw.trim() === '' ? 0n : BigInt(raw));
        } catch (err) {
          expect(err).toBeInstanceOf(DomainError);
          expect((err as DomainError).kind).toBe(ErrorKind.InvalidArgument);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

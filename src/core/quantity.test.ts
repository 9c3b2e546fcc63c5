import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.js';
import { addRational, formatBytes, formatCpu, parseMemory, parseQuantity, toMilli, toMilliNearest, toSafeNumber, toUnits } from './quantity.js';

const KI = 1n << 10n;
const MI = 1n << 20n;
const GI = 1n << 30n;

/**
 * [input, MilliValue(), Value()] as printed by k8s.io/apimachinery v0.36.2's
 * resource.ParseQuantity for the same strings, so the rounding rules are the
 * API server's and not our reading of its docs. Rows where Go overflows
 * int64 (5E, 1Ei in milli) are left out: we stay exact and let callers range-check.
 */
const FROM_APIMACHINERY: Array<[string, bigint, bigint]> = [
  // plain numbers, signs, fractions
  ['0', 0n, 0n],
  ['1', 1000n, 1n],
  ['+1', 1000n, 1n],
  ['-1', -1000n, -1n],
  ['1.5', 1500n, 2n],
  ['-1.5', -1500n, -2n],
  ['0.1', 100n, 1n],
  ['.5', 500n, 1n],
  ['5.', 5000n, 5n],
  ['0.3', 300n, 1n],
  ['0.0005', 1n, 1n],
  ['-0.0005', -1n, -1n],
  ['1.0001', 1001n, 2n],
  ['00100m', 100n, 1n],
  ['0.0000000001', 1n, 1n],
  // n (metrics-server's CPU unit), u, m
  ['1n', 1n, 1n],
  ['250n', 1n, 1n],
  ['12345678n', 13n, 1n],
  ['123456789n', 124n, 1n],
  ['999999999n', 1000n, 1n],
  ['1000000001n', 1001n, 2n],
  ['1.5n', 1n, 1n],
  ['0.5n', 1n, 1n],
  ['1u', 1n, 1n],
  ['1500u', 2n, 1n],
  ['-1u', -1n, -1n],
  ['1m', 1n, 1n],
  ['100m', 100n, 1n],
  ['1500m', 1500n, 2n],
  ['-1500m', -1500n, -2n],
  // decimal SI
  ['1k', 1_000_000n, 1000n],
  ['1.5k', 1_500_000n, 1500n],
  ['1M', 1_000_000_000n, 1_000_000n],
  ['2G', 2_000_000_000_000n, 2_000_000_000n],
  ['1.G', 1_000_000_000_000n, 1_000_000_000n],
  ['3T', 3_000_000_000_000_000n, 3_000_000_000_000n],
  ['4P', 4_000_000_000_000_000_000n, 4_000_000_000_000_000n],
  // binary SI (metrics-server's memory unit is Ki)
  ['1Ki', 1_024_000n, 1024n],
  ['1.5Ki', 1_536_000n, 1536n],
  ['0.1Ki', 102_400n, 103n],
  ['2048Ki', 2_097_152_000n, 2_097_152n],
  ['102400Ki', 104_857_600_000n, 104_857_600n],
  ['1Mi', 1_048_576_000n, 1_048_576n],
  ['0.5Gi', 536_870_912_000n, 536_870_912n],
  ['1Gi', 1_073_741_824_000n, 1_073_741_824n],
  ['2Ti', 2_199_023_255_552_000n, 2_199_023_255_552n],
  ['3Pi', 3_377_699_720_527_872_000n, 3_377_699_720_527_872n],
  // decimal exponents
  ['1e3', 1_000_000n, 1000n],
  ['1E3', 1_000_000n, 1000n],
  ['1e+3', 1_000_000n, 1000n],
  ['1e-3', 1n, 1n],
  ['1E-3', 1n, 1n],
  ['1.5e3', 1_500_000n, 1500n],
  ['12e-1', 1200n, 2n],
  ['129e6', 129_000_000_000n, 129_000_000n],
  ['1e0', 1000n, 1n],
  ['104857600', 104_857_600_000n, 104_857_600n],
];

describe('toMilli and toUnits agree with apimachinery', () => {
  it.each(FROM_APIMACHINERY)('%s -> %s milli, %s units', (input, milli, units) => {
    expect(toMilli(input)).toBe(milli);
    expect(toUnits(input)).toBe(units);
  });

  it('keeps the values Go overflows exact', () => {
    expect(toUnits('5E')).toBe(5n * 10n ** 18n);
    expect(toUnits('1E')).toBe(10n ** 18n); // E alone is exa, not an exponent
    expect(toUnits('1Ei')).toBe(1n << 60n);
    expect(toMilli('1Ei')).toBe((1n << 60n) * 1000n);
  });
});

describe('parseQuantity', () => {
  it('is exact: every spelling of one value is the same rational', () => {
    for (const s of ['0.1', '100m', '1e-1', '100000u', '100000000n', '.1', '+0.1']) {
      expect(parseQuantity(s)).toEqual({ num: 1n, den: 10n });
    }
    expect(parseQuantity('0.5Gi')).toEqual({ num: GI / 2n, den: 1n });
    expect(parseQuantity('1.5Ki')).toEqual({ num: 1536n, den: 1n });
    expect(parseQuantity('-250n')).toEqual({ num: -1n, den: 4_000_000n });
    expect(parseQuantity('-0')).toEqual({ num: 0n, den: 1n });
  });

  it('multiplies binary suffixes by powers of two', () => {
    expect(parseQuantity('1Ki')).toEqual({ num: KI, den: 1n });
    expect(parseQuantity('3Mi')).toEqual({ num: 3n * MI, den: 1n });
  });

  it('tolerates surrounding whitespace (config files)', () => {
    expect(toMilli(' 2 ')).toBe(2000n);
  });

  it.each([
    '',
    '.',
    '-',
    '+',
    'e3', // apimachinery reads these five as 0; refusing them catches typos
    'K',
    '1K', // kilo is a lower-case k
    '1Kb',
    '1.5.5',
    '1e',
    '1ee3',
    '1e1.5',
    '1Mii',
    '1mi',
    '1 Gi',
    '0x10',
    'one',
  ])('refuses %j with an InvalidArgument that shows examples', (input) => {
    let caught: unknown;
    try {
      parseQuantity(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).kind).toBe('INVALID_ARGUMENT');
    expect((caught as DomainError).message).toContain('is not a Kubernetes quantity');
  });

  it('refuses exponents that would make the arithmetic unbounded', () => {
    expect(() => parseQuantity('1e65')).toThrow(/exponent out of range/);
    expect(() => parseQuantity('1e-65')).toThrow(/exponent out of range/);
    expect(toUnits('1e64')).toBe(10n ** 64n);
  });
});

describe('toMilliNearest', () => {
  it.each<[string, bigint]>([
    ['250008540n', 250n], // what metrics-server reports for a KWOK pod emulating 250m
    ['249995455n', 250n],
    ['3700112466n', 3700n],
    ['500499999n', 500n],
    ['500500000n', 501n], // halves go away from zero
    ['-500500000n', -501n],
    ['-500499999n', -500n],
    ['499999n', 0n],
    ['500000n', 1n],
    ['1', 1000n],
    ['0', 0n],
    ['1.0005', 1001n],
    ['1e-4', 0n],
  ])('%s -> %s', (input, milli) => {
    expect(toMilliNearest(input)).toBe(milli);
  });

  it('differs from toMilli (MilliValue) only in the rounding of a fraction', () => {
    expect(toMilli('250008540n')).toBe(251n);
    expect(toMilliNearest('250008540n')).toBe(250n);
    expect(toMilli('250m')).toBe(toMilliNearest('250m'));
  });
});

describe('addRational', () => {
  it('adds exactly, so rounding can happen once on a sum', () => {
    const third = parseQuantity('333333333n');
    const sum = addRational(addRational(third, third), third);
    expect(sum).toEqual({ num: 999_999_999n, den: 1_000_000_000n });
    expect(toMilli(sum)).toBe(1000n);
    // rounding each part first would have said 1002m
    expect(toMilli(third) * 3n).toBe(1002n);
    expect(addRational(parseQuantity('1.5'), parseQuantity('-1500m'))).toEqual({ num: 0n, den: 1n });
  });
});

describe('parseMemory', () => {
  it.each<[string | number, bigint]>([
    ['8GB', 8_000_000_000n],
    ['8gb', 8_000_000_000n],
    ['8 GB', 8_000_000_000n],
    ['8GiB', 8n * GI],
    ['8gib', 8n * GI],
    ['1.5GB', 1_500_000_000n],
    ['512MiB', 512n * MI],
    ['512MB', 512_000_000n],
    ['8KB', 8000n],
    ['8kB', 8000n],
    ['8KiB', 8n * KI],
    ['2TB', 2_000_000_000_000n],
    ['1TiB', 1n << 40n],
    ['8Gi', 8n * GI],
    ['8G', 8_000_000_000n],
    ['8192Mi', 8n * GI],
    ['8589934592', 8n * GI],
    ['0.5Gi', GI / 2n],
    ['129e6', 129_000_000n],
    [8589934592, 8n * GI],
    [0, 0n],
  ])('%j is %s bytes', (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
  });

  it('rounds fractional bytes up, as Value() does', () => {
    expect(parseMemory('0.1Ki')).toBe(103n);
    expect(parseMemory('1500m')).toBe(2n);
  });

  it('refuses numbers that are not whole bytes and words that are not sizes', () => {
    expect(() => parseMemory(1.5)).toThrow(/whole number of bytes/);
    expect(() => parseMemory(Number.MAX_SAFE_INTEGER + 2)).toThrow(/whole number of bytes/);
    expect(() => parseMemory('8XB')).toThrow(/not a Kubernetes quantity/);
    expect(() => parseMemory('8 Gi')).toThrow(/not a Kubernetes quantity/);
    expect(() => parseMemory('lots')).toThrow(/not a Kubernetes quantity/);
  });
});

describe('formatting', () => {
  it('formats CPU like kubectl', () => {
    expect(formatCpu(0)).toBe('0');
    expect(formatCpu(2000)).toBe('2');
    expect(formatCpu(1500)).toBe('1500m');
    expect(formatCpu(1)).toBe('1m');
  });

  it('formats bytes with the largest exact binary suffix', () => {
    expect(formatBytes(0)).toBe('0');
    expect(formatBytes(1000)).toBe('1000');
    expect(formatBytes(1024)).toBe('1Ki');
    expect(formatBytes(1536)).toBe('1536');
    expect(formatBytes(3 * 2 ** 20)).toBe('3Mi');
    expect(formatBytes(2 ** 30 + 2 ** 20)).toBe('1025Mi');
    expect(formatBytes(2 ** 40)).toBe('1Ti');
  });

  it('round-trips formatted values through the parser', () => {
    for (const bytes of [0, 1, 1023, 1024, 5 * 2 ** 30, 2 ** 50 + 2 ** 10]) {
      expect(toUnits(formatBytes(bytes))).toBe(BigInt(bytes));
    }
    for (const milli of [0, 1, 999, 1000, 1500, 64000]) {
      expect(toMilli(formatCpu(milli))).toBe(BigInt(milli));
    }
  });
});

describe('toSafeNumber', () => {
  it('converts only what a JS number holds exactly', () => {
    expect(toSafeNumber(9_007_199_254_740_991n, 'cpu')).toBe(Number.MAX_SAFE_INTEGER);
    expect(toSafeNumber(-5n, 'cpu')).toBe(-5);
    expect(() => toSafeNumber(9_007_199_254_740_992n, 'memory')).toThrow(/memory 9007199254740992 is out of range/);
    expect(() => toSafeNumber(toUnits('1Ei') * 8n, 'memory')).toThrow(/out of range/);
  });
});

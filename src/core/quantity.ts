/**
 * Exact Kubernetes quantity arithmetic (resource.Quantity's grammar) on
 * BigInt rationals, so "0.1", "100m" and "1e-1" all mean the same thing and
 * nothing is lost to floating point.
 *
 *   quantity ::= sign? digits ('.' digits?)? suffix | sign? '.' digits suffix
 *   suffix   ::= binarySI | decimalSI | ('e'|'E') sign? digits
 */
import { invalidArgument } from './errors.js';

export interface Rational {
  readonly num: bigint; // carries the sign
  readonly den: bigint; // > 0
}

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY_RE = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Kubernetes does not accept exponents this large; neither do we (they would make BigInt work unbounded). */
const MAX_EXPONENT = 64;

export function parseQuantity(input: string): Rational {
  const s = input.trim();
  const m = QUANTITY_RE.exec(s);
  const [, sign = '', whole = '', frac = '', suffix = ''] = m ?? [];
  if (!m || (whole === '' && frac === '')) {
    throw invalidArgument(`"${input}" is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi, 128974848, 129e6)`);
  }
  let num = BigInt((whole || '0') + frac);
  let den = 10n ** BigInt(frac.length);
  const binary = BINARY[suffix];
  if (binary !== undefined) {
    num *= binary;
  } else {
    // "E" alone is exa; only "E" followed by digits is an exponent.
    const exp = DECIMAL_EXP[suffix] ?? Number(suffix.slice(1));
    if (Math.abs(exp) > MAX_EXPONENT) throw invalidArgument(`"${input}": exponent out of range`);
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  if (sign === '-') num = -num;
  return reduce({ num, den });
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  while (b) [a, b] = [b, a % b];
  return a;
}

function reduce(r: Rational): Rational {
  const g = gcd(r.num, r.den) || 1n;
  return { num: r.num / g, den: r.den / g };
}

/** a + b, exact: sums are rounded once at the end, not part by part. */
export function addRational(a: Rational, b: Rational): Rational {
  return reduce({ num: a.num * b.den + b.num * a.den, den: a.den * b.den });
}

/**
 * Rounds away from zero, as Kubernetes does when it scales a quantity down to
 * an integer (MilliValue, Value): its docs say "ceil", but negative values go
 * to the next integer below (-1.5 -> -2), not above.
 */
function roundAwayFromZero(r: Rational): bigint {
  const q = r.num / r.den; // BigInt division truncates towards zero
  if (r.num % r.den === 0n) return q;
  return r.num > 0n ? q + 1n : q - 1n;
}

/** The quantity in thousandths (CPU millicores), rounded away from zero as Quantity.MilliValue() does. */
export function toMilli(q: string | Rational): bigint {
  const r = typeof q === 'string' ? parseQuantity(q) : q;
  return roundAwayFromZero({ num: r.num * 1000n, den: r.den });
}

/**
 * The quantity in thousandths, rounded to the nearest (halves away from
 * zero). For measured values such as metered CPU: a rate over a window
 * carries nanocore-level noise, and rounding up would add half a millicore
 * on average and flip between two values on that noise.
 */
export function toMilliNearest(q: string | Rational): bigint {
  const r = typeof q === 'string' ? parseQuantity(q) : q;
  const n = r.num * 1000n;
  const abs = n < 0n ? -n : n;
  const rounded = (2n * abs + r.den) / (2n * r.den);
  return n < 0n ? -rounded : rounded;
}

/** The quantity in whole units (bytes, devices), rounded away from zero as Quantity.Value() does. */
export function toUnits(q: string | Rational): bigint {
  return roundAwayFromZero(typeof q === 'string' ? parseQuantity(q) : q);
}

/** Formats millicores the way kubectl does: whole cores when exact, else "NNNm". */
export function formatCpu(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

const BINARY_UNITS: Array<[string, number]> = [
  ['Ei', 2 ** 60],
  ['Pi', 2 ** 50],
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
];

/** Bytes as an exact Kubernetes quantity: the largest binary suffix that divides evenly, else plain bytes. */
export function formatBytes(bytes: number): string {
  for (const [suffix, size] of BINARY_UNITS) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}

/** Converts a BigInt to a JS number only when it is exactly representable. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidArgument(`${what} ${v} is out of range (at most ${Number.MAX_SAFE_INTEGER})`);
  }
  return Number(v);
}

const MEMORY_WORD_RE = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpPeE])(i?)[bB]$/;

/**
 * Memory as configured by people: every Kubernetes quantity ("8Gi", "8G",
 * "8192Mi", "8589934592") plus the byte-suffixed spellings of the original
 * provider's config ("8GB" = 8G = 8·10⁹ bytes, "8GiB" = 8Gi).
 */
export function parseMemory(input: string | number): bigint {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) throw invalidArgument(`memory ${input} must be a whole number of bytes`);
    return BigInt(input);
  }
  const word = MEMORY_WORD_RE.exec(input.trim());
  if (!word) return toUnits(input);
  const [, amount, prefix = '', binary] = word;
  const upper = prefix.toUpperCase();
  // Kubernetes spells kilo with a lower-case k; every other prefix is upper-case.
  const suffix = binary ? `${upper}i` : upper === 'K' ? 'k' : upper;
  return toUnits(`${amount}${suffix}`);
}

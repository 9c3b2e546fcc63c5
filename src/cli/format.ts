/** Pure rendering of CLI answers: aligned tables for people, plain numbers for --json. */
import { formatBytes, formatCpu } from '../core/quantity.js';
import type { Info__Output } from '../adapters/grpc/contract.js';
import type { Capacity__Output } from '../adapters/grpc/contract.js';
import type { StorageCapacity__Output } from '../adapters/grpc/contract.js';

export interface Amounts {
  readonly cpu: number; // millicores
  readonly memory: number; // bytes
  readonly gpu: number;
}

/** int64 arrives as a decimal string (longs: String); scripts want numbers. */
export function amounts(info: Info__Output | null | undefined): Amounts {
  return { cpu: Number(info?.cpu ?? 0), memory: Number(info?.memory ?? 0), gpu: Number(info?.gpu ?? 0) };
}

export function capacityAmounts(c: Capacity__Output | null | undefined): { total: Amounts; used: Amounts; available: Amounts } {
  return { total: amounts(c?.total), used: amounts(c?.used), available: amounts(c?.available) };
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export const cell = {
  cpu: (milli: number): string => formatCpu(milli),
  memory: (bytes: number): string => formatBytes(bytes),
  gpu: (n: number): string => String(n),
};

/** One row per resource, one column per figure: the shape of kubectl describe node's "Allocated resources". */
export function resourceTable(columns: Readonly<Record<string, Amounts>>): string {
  const names = Object.keys(columns);
  const rows = (['cpu', 'memory', 'gpu'] as const).map((r) => [r, ...Object.values(columns).map((amounts) => cell[r](amounts[r]))]);
  return table(['RESOURCE', ...names.map((n) => n.toUpperCase())], rows);
}

/** "3m12s"-style age like kubectl's AGE column. */
export function age(fromMs: number, nowMs: number): string {
  const s = Math.max(0, Math.floor((nowMs - fromMs) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}

export interface StorageAmounts {
  readonly limited: boolean;
  readonly total: number;
  readonly used: number;
  readonly available: number;
  readonly ephemeralUsed: number;
  readonly claimedUsed: number;
}

/**
 * The storage books as one line, or nothing when storage is neither limited
 * nor used (so the output of a daemon without volumes stays what it was).
 */
export function storageSummary(s: StorageCapacity__Output | null | undefined): { text: string; data: StorageAmounts } | undefined {
  if (!s) return undefined;
  const data: StorageAmounts = {
    limited: s.limited,
    total: Number(s.total),
    used: Number(s.used),
    available: Number(s.available),
    ephemeralUsed: Number(s.ephemeralUsed),
    claimedUsed: Number(s.claimedUsed),
  };
  if (!data.limited && data.used === 0) return undefined;
  const split = `${formatBytes(data.ephemeralUsed)} emptyDir, ${formatBytes(data.claimedUsed)} claimed`;
  const text = data.limited
    ? `storage: ${formatBytes(data.used)} used of ${formatBytes(data.total)}, ${formatBytes(data.available)} available (${split})\n`
    : `storage: ${formatBytes(data.used)} used, not limited (${split})\n`;
  return { text, data };
}

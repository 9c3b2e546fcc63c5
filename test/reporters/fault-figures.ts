/**
 * The fault figures of the run (issue 14, item 8): the fault tests append
 * one JSON line per scenario to test-results/fault-figures.jsonl
 * (test/helpers/fault-figures.ts); this reporter empties that file when a run
 * starts and, when the run wrote any, prints them as a markdown table at the
 * end and writes it to test-results/fault-figures.md, so the README's table
 * is pasted from a run, not typed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Reporter } from 'vitest/node';
import { FIGURES_FILE, RESULTS_DIR, type FaultRow } from '../helpers/fault-figures.js';

const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(', ');

export function faultTable(rows: FaultRow[], started: { at: Date; loadavg: number[] }): string {
  const failed = (r: FaultRow): string => {
    const f = r.failed;
    if (f.total === 0) return '0';
    const codes = Object.entries(f.byCode)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${n} ${code}`)
      .join(', ');
    return `${f.total} (${codes}): ${f.retried} retried to success, ${f.intended} intended, **${f.forGood} for good**`;
  };
  const faults = (r: FaultRow): string =>
    Object.entries(r.faults)
      .map(([kind, n]) => `${n} × ${kind}`)
      .join(', ') || 'none';
  const lines = [
    `Fault figures: ${rows.length} scenarios, run started ${started.at.toISOString()}, ${cpus().length} cores, ` +
      `load average (1, 5, 15 min) ${load(started.loadavg)} at the start and ${load(loadavg())} at the end.`,
    '',
    '| scenario | faults injected | calls made | calls failed | instances lost | duplicates | daemon peak RSS |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const inst = r.instances;
      const rss = `${r.peakRssMiB === null ? '—' : `${r.peakRssMiB} MiB`}${r.rssNote ? ` (${r.rssNote})` : ''}`;
      return `| ${r.scenario} (\`${r.file}\`) | ${faults(r)} | ${r.calls} | ${failed(r)} | ${inst ? `**${inst.lost}** of ${inst.expected}` : 'not checked (test failed)'} | ${inst ? `**${inst.duplicates}**` : '—'} | ${rss} |`;
    }),
  ];
  const notes = rows.filter((r) => r.notes.length > 0);
  if (notes.length > 0) {
    lines.push('');
    for (const r of notes) lines.push(`- ${r.scenario}: ${r.notes.join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export default class FaultFiguresReporter implements Reporter {
  private started = { at: new Date(), loadavg: loadavg() };

  onTestRunStart(): void {
    // The table is of this run only.
    rmSync(FIGURES_FILE, { force: true });
    this.started = { at: new Date(), loadavg: loadavg() };
  }

  onTestRunEnd(): void {
    if (!existsSync(FIGURES_FILE)) return;
    const rows = readFileSync(FIGURES_FILE, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FaultRow);
    if (rows.length === 0) return;
    const table = faultTable(rows, this.started);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const out = join(RESULTS_DIR, 'fault-figures.md');
    writeFileSync(out, table);
    process.stdout.write(`\n${table}(written to ${out})\n`);
  }
}

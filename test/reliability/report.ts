/**
 * Figures of the reliability suite: each has a threshold, and the suite fails on any figure past it. The report
 * is printed as a table and written as JSON (`reliability-report.json`).
 */
import { writeFile } from 'node:fs/promises';

export interface Figure {
  phase: 'load' | 'faults' | 'hostile' | 'failover' | 'secrets' | 'health';
  name: string;
  value: number;
  unit: string;
  /** `max`: value must be ≤ threshold; `min`: value must be ≥ threshold; `report`: no threshold (e.g. requests/s). */
  kind: 'max' | 'min' | 'report';
  threshold?: number;
}

export function passes(figure: Figure): boolean {
  if (figure.kind === 'report' || figure.threshold === undefined) return true;
  return figure.kind === 'max' ? figure.value <= figure.threshold : figure.value >= figure.threshold;
}

export function failing(figures: readonly Figure[]): Figure[] {
  return figures.filter((f) => !passes(f));
}

/** One line per failing figure, for an assertion message. */
export function describeFailures(figures: readonly Figure[]): string {
  return failing(figures)
    .map((f) => `${f.phase}: ${f.name} = ${f.value} ${f.unit}, threshold ${f.kind === 'max' ? '≤' : '≥'} ${f.threshold}`)
    .join('\n');
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(value < 10 ? 2 : 1);
}

export function renderTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.phase,
    f.name,
    `${formatValue(f.value)} ${f.unit}`.trim(),
    f.kind === 'report' || f.threshold === undefined ? '(reported)' : `${f.kind === 'max' ? '≤' : '≥'} ${formatValue(f.threshold)}`,
    passes(f) ? 'ok' : 'FAIL',
  ]);
  const header = ['phase', 'figure', 'measured', 'threshold', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface ReliabilityReport {
  profile: string;
  startedAt: string;
  finishedAt: string;
  node: string;
  passed: boolean;
  figures: Figure[];
}

export async function writeReport(path: string, report: ReliabilityReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

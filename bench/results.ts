import fs from 'node:fs';
import path from 'node:path';

export function writeResults(name: string, data: unknown): string {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

/** Prints a two-column table of measures, lines under it, then where the JSON results went. */
export function reportMeasures(name: string, rows: [string, string][], notes: string[], data: unknown): void {
  process.stdout.write(
    [
      '',
      '| measure | value |',
      '|---|---|',
      ...rows.map(([measure, value]) => `| ${measure} | ${value} |`),
      '',
      ...notes,
      `results: ${writeResults(name, data)}`,
      '',
    ].join('\n'),
  );
}

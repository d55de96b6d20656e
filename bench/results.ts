import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import prettier from 'prettier';

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

/** What a figure was taken on, for BENCHMARKS.md. */
export function machineDescription(): string {
  const cpus = os.cpus();
  const memoryGiB = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${memoryGiB} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export const benchmarksFile = path.join(__dirname, '..', 'BENCHMARKS.md');

/**
 * Rewrites one benchmark's section of BENCHMARKS.md (between its `<!-- bench:<name> -->` markers),
 * or appends it, leaving the other benchmarks' sections as they were: each bench keeps its own
 * figures current. Returns the file's path.
 */
export async function updateBenchmarksSection(name: string, markdown: string): Promise<string> {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const section = `${begin}\n${markdown.trim()}\n${end}`;
  const current = fs.existsSync(benchmarksFile) ? fs.readFileSync(benchmarksFile, 'utf8') : '# Benchmarks\n';
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? `${current.slice(0, from)}${section}${current.slice(to + end.length)}`
      : `${current.trimEnd()}\n\n${section}\n`;
  // Formatted as the repository's own markdown is, so `npm run lint` passes on what a bench wrote.
  const options = (await prettier.resolveConfig(benchmarksFile)) ?? {};
  fs.writeFileSync(benchmarksFile, await prettier.format(next, { ...options, filepath: benchmarksFile }));
  return benchmarksFile;
}

/** A markdown table from a header row and data rows. */
export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** Runs `total` jobs with `lanes` in flight; returns the elapsed milliseconds. */
export async function drive(total: number, lanes: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < total) await job(next++);
    }),
  );
  return performance.now() - started;
}

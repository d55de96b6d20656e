/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts. Each benchmark prints a table and writes
 * JSON to bench/results/<name>.json.
 */
import fs from 'node:fs';
import path from 'node:path';

const available = fs
  .readdirSync(__dirname)
  .filter((file) => file.endsWith('.ts') && file !== 'run.ts' && file !== 'results.ts')
  .map((file) => file.replace(/\.ts$/, ''));

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name> [args]\navailable: ${available.join(', ')}\n`);
  process.exit(name ? 1 : 0);
}
process.argv = [process.argv[0] as string, path.join(__dirname, `${name}.ts`), ...args];
void import(path.join(__dirname, `${name}.ts`));

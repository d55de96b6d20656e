import fs from 'node:fs';
import path from 'node:path';

/** The package version, read at run time so `src` and `dist` agree without a JSON import. */
export function palyraVersion(): string {
  for (const candidate of [path.join(__dirname, '..', '..', 'package.json'), path.join(__dirname, '..', 'package.json')]) {
    if (fs.existsSync(candidate)) return (JSON.parse(fs.readFileSync(candidate, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

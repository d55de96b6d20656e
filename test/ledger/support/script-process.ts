import { spawn } from 'node:child_process';
import { repoRoot } from '../../support/processes';

/**
 * Runs a TypeScript script in its own Node process (its own ledger connection) and answers the
 * JSON it prints, so a test can race several processes against one database.
 */
export function jsonFromScriptProcess<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // 'close', not 'exit': only 'close' comes after the child's output has been read to its end (on a
    // loaded machine 'exit' can come first, with the JSON still in the pipe).
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim()) as T) : reject(new Error(`${script} failed (${code}): ${err}`)),
    );
  });
}

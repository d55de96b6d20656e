import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const cliEntry = path.join(repoRoot, 'src', 'cli', 'main.ts');

/** Every live descendant of `pid`, read from /proc (Linux). */
export function descendantsOf(pid: number): number[] {
  const childrenByParent = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may contain spaces; fields after the closing parenthesis are fixed.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      childrenByParent.set(parent, [...(childrenByParent.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process exited while we looked.
    }
  }
  const result: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    for (const child of childrenByParent.get(stack.pop() as number) ?? []) {
      result.push(child);
      stack.push(child);
    }
  }
  return result;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

const spawned = new Set<ChildProcessWithoutNullStreams>();

/**
 * Kills whatever a failed or timed-out test left running (the CLI and everything under it), so
 * one broken test cannot leave a dev server behind for the rest of the run.
 */
export function killLeftoverProcesses(): void {
  for (const child of spawned) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      for (const pid of [...descendantsOf(child.pid), child.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    spawned.delete(child);
  }
}

/** Runs `palyra <args>` from the TypeScript sources, as `npm start` does. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], { cwd: repoRoot, env, stdio: 'pipe' });
  spawned.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let exitedEarly = false;
      void exited.then(() => (exitedEarly = true));
      while (Date.now() < deadline) {
        const match = out.match(pattern);
        if (match) return match;
        if (exitedEarly) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no ${pattern} in output within ${timeoutMs} ms.\nstdout:\n${out}\nstderr:\n${err.slice(-4000)}`);
    },
  };
}

/** An environment for a CLI child: the test's, minus anything that would point it elsewhere. */
export function cliEnv(overrides: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('PALYRA_') || key.startsWith('TEMPORAL_') || key === 'DATABASE_URL') delete env[key];
  }
  return { ...env, ...overrides };
}

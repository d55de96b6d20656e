import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { canConnect, isPortFree } from '../../util/net';
import { delay } from '../../util/time';

export class DevServerError extends Error {
  override readonly name = 'DevServerError';
}

export interface DevServerOptions {
  cliPath: string;
  host?: string;
  port: number;
  uiPort: number;
  /** SQLite file: histories survive a restart when the same file is used again. */
  dbFile: string;
  namespace: string;
  /** Written while the server runs so a later start can stop a server orphaned by a hard kill. */
  pidFile?: string;
  /** Names of the variables that choose the ports, for error messages. */
  portVariables?: { port: string; uiPort: string };
  startTimeoutMs?: number;
  onOutput?: (line: string) => void;
}

export interface RunningDevServer {
  address: string;
  uiUrl: string;
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). Safe to call twice. */
  stop(): Promise<void>;
}

const stopGraceMs = 10_000;

/**
 * Task queue fairness is off by default on a self-hosted server (1.32), and without it the
 * `fairnessKey` (the tenant) that every run carries is ignored: one tenant's backlog is served
 * first-in first-out and starves the others. `enableFairness` dispatches backlogged tasks round-robin
 * across keys within a priority level; it implies the priority-aware matcher (`useNewMatcher`), set
 * as well so the pair reads the same as a production server's dynamic config. Fairness holds within
 * a task queue partition only: a single-process dev server gains nothing from the default four, and
 * with one a quiet tenant's task is never left on a partition no poller happens to be reading.
 */
export const fairnessDynamicConfig = [
  'matching.enableFairness=true',
  'matching.useNewMatcher=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
] as const;

export async function startDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  const host = options.host ?? '127.0.0.1';
  const vars = options.portVariables ?? { port: 'PALYRA_DEV_TEMPORAL_PORT', uiPort: 'PALYRA_DEV_TEMPORAL_UI_PORT' };
  if (options.pidFile) await stopOrphanedServer(options.pidFile, options.dbFile);

  for (const [port, variable, what] of [
    [options.port, vars.port, 'Temporal dev server gRPC'],
    [options.uiPort, vars.uiPort, 'Temporal Web UI'],
  ] as const) {
    if (!(await isPortFree(port, host))) {
      throw new DevServerError(
        `port ${port} (${what}) is already in use on ${host}: stop the process using it, set ${variable} to a free port, ` +
          `or set TEMPORAL_ADDRESS to use a Temporal server that is already running`,
      );
    }
  }

  fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--db-filename',
    options.dbFile,
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    ...fairnessDynamicConfig.flatMap((value) => ['--dynamic-config-value', value]),
  ];
  // A process group of its own keeps a terminal Ctrl-C away from the server, so Palyra can stop
  // it last, after the worker has drained.
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const recentOutput: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      recentOutput.push(line);
      if (recentOutput.length > 20) recentOutput.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) {
    throw new DevServerError(`could not start ${options.cliPath}: ${(await spawnFailed).message}`);
  }
  // The owner's pid goes along, so a second Palyra on the same data dir never stops a server in use.
  if (options.pidFile) fs.writeFileSync(options.pidFile, `${pid} ${process.pid}\n`);
  // Covers crashes and uncaught errors in Palyra; a hard kill is handled by stopOrphanedServer.
  const killOnExit = () => killGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);

  const address = `${host}:${options.port}`;
  let stopping: Promise<void> | undefined;
  const server: RunningDevServer = {
    address,
    uiUrl: `http://${host}:${options.uiPort}`,
    pid,
    stop() {
      stopping ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          killGroup(pid, 'SIGTERM');
          const timedOut = await Promise.race([exited.then(() => false), delay(stopGraceMs).then(() => true)]);
          if (timedOut) {
            killGroup(pid, 'SIGKILL');
            await exited;
          }
        }
        if (options.pidFile) fs.rmSync(options.pidFile, { force: true });
      })();
      return stopping;
    },
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  const early = await Promise.race([
    waitUntilServing(address, options.namespace, deadline).then(() => 'ready' as const),
    exited.then((code) => ({ exitCode: code })),
    spawnFailed.then((error) => ({ error })),
  ]).catch((error: Error) => ({ error }));
  if (early === 'ready') return server;
  await server.stop();
  const detail = 'error' in early ? early.error.message : `exit code ${early.exitCode}`;
  const lastLines = recentOutput.slice(-3).join(' | ');
  throw new DevServerError(`Temporal dev server did not start (${detail})${lastLines ? `: ${lastLines}` : ''}`);
}

/** Polls until the frontend answers and the namespace exists (the dev server creates it at boot). */
async function waitUntilServing(address: string, namespace: string, deadline: number): Promise<void> {
  const [host, portText] = splitAddress(address);
  let lastError = 'not listening';
  while (Date.now() < deadline) {
    if (await canConnect(Number(portText), host, 500)) {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 }).catch((e: Error) => {
        lastError = e.message;
        return undefined;
      });
      if (connection) {
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return;
        } catch (error) {
          lastError = (error as Error).message;
        } finally {
          await connection.close();
        }
      }
    }
    await delay(100);
  }
  throw new DevServerError(`Temporal dev server at ${address} was not ready in time (${lastError})`);
}

export function splitAddress(address: string): [string, string] {
  const index = address.lastIndexOf(':');
  if (index <= 0) return [address, '7233'];
  return [address.slice(0, index), address.slice(index + 1)];
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * A `palyra dev` killed with SIGKILL cannot stop its dev server. The next start finds it through
 * the pid file and stops it, but only when that process really is a dev server on the same DB file.
 */
async function stopOrphanedServer(pidFile: string, dbFile: string): Promise<void> {
  if (!fs.existsSync(pidFile)) return;
  const [pid, ownerPid] = fs.readFileSync(pidFile, 'utf8').trim().split(/\s+/).map(Number);
  if (ownerPid !== undefined && Number.isInteger(ownerPid) && isProcessAlive(ownerPid)) return;
  fs.rmSync(pidFile, { force: true });
  if (pid === undefined || !Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return;
  }
  if (!cmdline.includes('start-dev') || !cmdline.includes(dbFile)) return;
  killGroup(pid, 'SIGTERM');
  for (let waited = 0; waited < stopGraceMs; waited += 100) {
    if (!fs.existsSync(`/proc/${pid}`)) return;
    await delay(100);
  }
  killGroup(pid, 'SIGKILL');
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

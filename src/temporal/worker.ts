import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from 'pino';
import { assertNamespace, assertReachable } from './client';

export interface PalyraWorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  /** The activities to register, built by the caller (`src/composition.ts`). */
  activities: NonNullable<WorkerOptions['activities']>;
  logger?: Logger;
  /** A prebuilt bundle (tests build one per file); otherwise the workflows are bundled now. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** How long a shutdown waits for running activities before they are cancelled. */
  shutdownGraceTimeMs?: number;
  /** Activity slots (the SDK's default otherwise); benchmarks and tests set few so a backlog forms. */
  maxConcurrentActivityTaskExecutions?: number;
  /** Workflow-task, local-activity and cache settings over Palyra's own, for benchmarks that compare them. */
  tuning?: WorkerTuning;
}

/** The worker settings `npm run bench -- runs --variants` compares. */
export type WorkerTuning = Pick<
  WorkerOptions,
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'nonStickyToStickyPollRatio'
  | 'maxCachedWorkflows'
  | 'stickyQueueScheduleToStartTimeout'
  | 'workflowThreadPoolSize'
  | 'reuseV8Context'
>;

export const workflowsPath = require.resolve('../workflows');

let processBundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/**
 * The workflows bundled once per process (its run and supervisor workers share the bundle), by a
 * child process: webpack leaves about 140 MiB behind in the process that runs it, which a worker
 * holding a thousand parked runs cannot spare (`npm run bench -- parked`).
 */
export function bundlePalyraWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  processBundle ??= bundleInChildProcess().catch((error: unknown) => {
    processBundle = undefined;
    throw error;
  });
  return processBundle;
}

async function bundleInChildProcess(): Promise<WorkflowBundleWithSourceMap> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'palyra-bundle-'));
  const out = path.join(dir, 'bundle.json');
  // From the sources (tsx, jest) the child runs the TypeScript entry through tsx; built, the JavaScript one.
  const fromSources = path.extname(__filename) === '.ts';
  const entry = path.join(__dirname, `bundle-workflows${fromSources ? '.ts' : '.js'}`);
  const loader = fromSources ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
  try {
    await promisify(execFile)(process.execPath, [...loader, entry, out], { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    return JSON.parse(await fs.promises.readFile(out, 'utf8')) as WorkflowBundleWithSourceMap;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`bundling the workflows failed: ${stderr || (error as Error).message}`);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** The bundler logs every module at info level; keep start-up output to what operators need. */
export const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.emitWarning(message),
  error: (message: string) => process.emitWarning(message),
};

/**
 * Creates a worker over its own NativeConnection. The namespace is checked before `Worker.create`
 * because a create that fails after bundling leaks worker threads and the process never exits.
 */
export async function createPalyraWorker(
  options: PalyraWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  await assertReachable(options.address, 5_000);
  const probe = await Connection.connect({ address: options.address, connectTimeout: 5_000 });
  try {
    await assertNamespace(probe, options.namespace);
  } finally {
    await probe.close();
  }

  const connection = await NativeConnection.connect({ address: options.address });
  try {
    const workflowBundle = options.workflowBundle ?? (await bundlePalyraWorkflows());
    const worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      workflowBundle,
      activities: options.activities,
      shutdownGraceTime: options.shutdownGraceTimeMs ?? 10_000,
      // Heartbeats carry cancellation back to a provider stream; the default throttle (80 % of the
      // heartbeat timeout) would let a cancelled run stream on for ~12 s, so flush at least every second.
      maxHeartbeatThrottleInterval: '1s',
      // After a worker dies, its runs' next workflow task waits this long on its sticky queue before
      // going to any worker (the default is 10 s).
      stickyQueueScheduleToStartTimeout: '2s',
      identity: `palyra-worker@${process.pid}`,
      ...(options.maxConcurrentActivityTaskExecutions
        ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions }
        : {}),
      ...options.tuning,
    });
    return { worker, connection };
  } catch (error) {
    await connection.close();
    throw error;
  }
}

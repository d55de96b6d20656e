/**
 * What the end-to-end benchmarks stand on: a dev server of their own (or a Temporal server given by
 * address), a baseline worker that runs plain Temporal workflows on it with default settings, and a
 * Palyra worker and API on the same server (config as given), so each figure can be set beside what
 * Temporal alone does. A benchmark that compares ledgers opens one Palyra stack per ledger on one
 * server; `openBenchStack` is the one-ledger shorthand.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { PalyraActivities } from '../../src/activities';
import { buildServer } from '../../src/api/server';
import { toolsDir } from '../../src/cli/temporal-target';
import { createLogger, routeTemporalLogsTo } from '../../src/cli/logger';
import { composeServices } from '../../src/composition';
import { configSchema, loadConfig, type PalyraConfig, type PalyraConfigInput } from '../../src/config';
import type { LedgerRepository } from '../../src/ledger';
import { openConfiguredLedger, type ConfiguredLedger } from '../../src/ledger/setup';
import { connectClient } from '../../src/temporal/client';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { createPalyraWorker, type WorkerTuning } from '../../src/temporal/worker';
import { findFreePort } from '../../src/util/net';

export const benchToken = 'bench-admin-token-0123456789';
export const benchHeaders = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
export const baselineTaskQueue = 'bench-baseline';

export interface BenchServer {
  address: string;
  client: Client;
  connection: Connection;
  /** The dev server's SQLite file, or undefined for a server given by address. */
  temporalDb: string | undefined;
  /** The dev server's process, for its CPU time; undefined for a server given by address. */
  serverPid: number | undefined;
  dir: string;
  stop(): Promise<void>;
}

/**
 * A dev server started as `palyra dev` starts it, its DB file in `dbParentDir` when given (to show
 * how much of a figure is the disk), or the Temporal server at `address`; a client; the search
 * attributes; and a baseline worker with the SDK's defaults polling `bench-baseline`.
 */
export async function openBenchServer(
  name: string,
  { dbParentDir, address: givenAddress }: { dbParentDir?: string | undefined; address?: string | undefined } = {},
): Promise<BenchServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `palyra-bench-${name}-`));
  const dbDir = dbParentDir ? fs.mkdtempSync(path.join(dbParentDir, 'palyra-bench-temporal-')) : dir;
  // The benchmarks start and stop workers: only the SDK's errors are worth printing.
  routeTemporalLogsTo(createLogger({ logLevel: 'error' }, 'bench'));
  const server = givenAddress
    ? undefined
    : await startDevServer({
        cliPath: locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true }).path,
        port: await findFreePort(),
        uiPort: await findFreePort(),
        dbFile: path.join(dbDir, 'temporal.db'),
        namespace: 'default',
      });
  const address = givenAddress ?? (server?.address as string);
  const { client, connection } = await connectClient({ address, namespace: 'default' });
  await registerSearchAttributes(connection, 'default');
  const baselineConnection = await NativeConnection.connect({ address });
  const baselineWorker = await Worker.create({
    connection: baselineConnection,
    namespace: 'default',
    taskQueue: baselineTaskQueue,
    workflowsPath: require.resolve('./baseline-workflows'),
    activities: { noop: async () => undefined },
  });
  const baselineDone = baselineWorker.run();
  return {
    address,
    client,
    connection,
    temporalDb: server ? path.join(dbDir, 'temporal.db') : undefined,
    serverPid: server?.pid,
    dir,
    async stop() {
      baselineWorker.shutdown();
      await baselineDone.catch(() => undefined);
      await baselineConnection.close();
      await connection.close();
      await server?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      if (dbDir !== dir) fs.rmSync(dbDir, { recursive: true, force: true });
    },
  };
}

/** Hooks a benchmark uses to time the layers of a run from outside the product's code. */
export interface BenchInstruments {
  ledger?: (repo: LedgerRepository) => LedgerRepository;
  activities?: (activities: PalyraActivities) => PalyraActivities;
  /** On the API's Temporal client only. */
  clientInterceptors?: WorkflowClientInterceptor[];
}

export const admissionSites = ['in-process', 'workflow'] as const;
export type AdmissionSite = (typeof admissionSites)[number];

export interface PalyraStack {
  url: string;
  headers: typeof benchHeaders;
  config: PalyraConfig;
  ledger: ConfiguredLedger;
  close(): Promise<void>;
}

/**
 * A Palyra worker and API on `server`, on a task queue and data dir of their own: `name` keeps two
 * stacks on one server apart. The worker is built as `palyra dev` builds it, plus `tuning`.
 */
export async function openPalyraStack(
  server: BenchServer,
  name: string,
  {
    config: overrides = {},
    instruments = {},
    tuning,
    withWorker = true,
    admission = 'in-process',
  }: {
    config?: PalyraConfigInput;
    instruments?: BenchInstruments;
    tuning?: WorkerTuning;
    withWorker?: boolean;
    /** Where a run's admission is decided: in the API before the run starts (as `palyra dev` does), or by its workflow. */
    admission?: AdmissionSite;
  } = {},
): Promise<PalyraStack> {
  const config = configSchema.parse({
    dataDir: fs.mkdtempSync(path.join(server.dir, `${name}-`)),
    logLevel: 'warn',
    temporal: { address: server.address, taskQueue: `bench-${name}` },
    server: { port: await findFreePort(), rateLimit: { max: 1_000_000, timeWindowMs: 60_000, perTenantMax: 1_000_000 } },
    auth: { tokens: [{ name: 'bench', token: benchToken, role: 'admin', tenants: ['*'] }] },
    ...overrides,
  });
  const logger = createLogger(config, 'bench');
  const ledger = await openConfiguredLedger(config, logger);
  const repo = instruments.ledger?.(ledger.repo) ?? ledger.repo;
  const services = composeServices({ config, ledger: repo });
  const activities = instruments.activities?.(services.activities) ?? services.activities;
  const worker = withWorker
    ? await createPalyraWorker({
        address: server.address,
        namespace: 'default',
        taskQueue: config.temporal.taskQueue,
        activities,
        ...(tuning ? { tuning } : {}),
      })
    : undefined;
  const working = worker?.worker.run();
  const client = instruments.clientInterceptors
    ? new Client({
        connection: server.connection,
        namespace: 'default',
        interceptors: { workflow: instruments.clientInterceptors },
      })
    : server.client;
  const app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection: server.connection, uiUrl: undefined },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    routePlanner: services.routePlanner,
    // The instrumented calls, so the benchmark sees admission in the API as it sees it in the worker.
    ...(admission === 'in-process'
      ? { admissionCalls: { ...services.admissionCalls, planRun: activities.planRun, admitRun: activities.admitRun } }
      : {}),
    version: 'bench',
  });
  const url = await app.listen({ host: '127.0.0.1', port: config.server.port });
  return {
    url,
    headers: benchHeaders,
    config,
    ledger,
    async close() {
      await app.close();
      if (worker) {
        worker.worker.shutdown();
        await working;
        await worker.connection.close();
      }
      await ledger.close();
    },
  };
}

/** One server, one Palyra stack on it: what the single-ledger benchmarks use. */
export async function openBenchStack(
  name: string,
  { dbParentDir, config }: { dbParentDir?: string; config?: PalyraConfigInput } = {},
) {
  const server = await openBenchServer(name, { dbParentDir });
  const stack = await openPalyraStack(server, name, { ...(config ? { config } : {}) }).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  return {
    client: server.client,
    url: stack.url,
    temporalDb: server.temporalDb,
    headers: stack.headers,
    async close() {
      await stack.close();
      await server.stop();
    },
  };
}

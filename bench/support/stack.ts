/**
 * What the end-to-end benchmarks stand on: a dev server of their own, a Palyra worker and API on it
 * (config as given), and a baseline worker that runs plain Temporal workflows on the same server
 * with default settings, so each figure can be set beside what Temporal alone does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { buildServer } from '../../src/api/server';
import { toolsDir } from '../../src/cli/temporal-target';
import { createLogger } from '../../src/cli/logger';
import { startWorker } from '../../src/cli/services';
import { composeServices } from '../../src/composition';
import { configSchema, loadConfig, type PalyraConfigInput } from '../../src/config';
import { openConfiguredLedger } from '../../src/ledger/setup';
import { connectClient } from '../../src/temporal/client';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { findFreePort } from '../../src/util/net';

const token = 'bench-admin-token-0123456789';
export const baselineTaskQueue = 'bench-baseline';

export async function openBenchStack(
  name: string,
  { dbParentDir, config: overrides = {} }: { dbParentDir?: string; config?: PalyraConfigInput } = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `palyra-bench-${name}-`));
  const dbDir = dbParentDir ? fs.mkdtempSync(path.join(dbParentDir, 'palyra-bench-temporal-')) : dir;
  const cli = locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true });
  const server = await startDevServer({
    cliPath: cli.path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dbDir, 'temporal.db'),
    namespace: 'default',
  });
  const config = configSchema.parse({
    dataDir: dir,
    logLevel: 'warn',
    temporal: { address: server.address, taskQueue: `bench-${name}` },
    server: { port: await findFreePort(), rateLimit: { max: 1_000_000, timeWindowMs: 60_000 } },
    auth: { tokens: [{ name: 'bench', token, role: 'admin', tenants: ['*'] }] },
    ...overrides,
  });
  const logger = createLogger(config, 'bench');
  const { client, connection } = await connectClient({ address: server.address, namespace: 'default' });
  await registerSearchAttributes(connection, 'default');
  const ledger = await openConfiguredLedger(config, logger);
  const services = composeServices({ config, ledger: ledger.repo });
  const worker = await startWorker(config, server.address, logger, services);
  const baselineConnection = await NativeConnection.connect({ address: server.address });
  const baselineWorker = await Worker.create({
    connection: baselineConnection,
    namespace: 'default',
    taskQueue: baselineTaskQueue,
    workflowsPath: require.resolve('./baseline-workflows'),
    activities: { noop: async () => undefined },
  });
  const baselineDone = baselineWorker.run();
  const app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: undefined },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    routePlanner: services.routePlanner,
    version: 'bench',
  });
  const url = await app.listen({ host: '127.0.0.1', port: config.server.port });
  return {
    client,
    url,
    temporalDb: path.join(dbDir, 'temporal.db'),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    async close() {
      await app.close();
      baselineWorker.shutdown();
      await baselineDone.catch(() => undefined);
      await baselineConnection.close();
      await worker.stop();
      await ledger.close();
      await connection.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(dbDir, { recursive: true, force: true });
    },
  };
}

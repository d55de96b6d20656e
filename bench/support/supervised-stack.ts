/**
 * What the self-healing benchmark stands on: a dev server of its own, the ledger, the API, a run
 * worker and a supervisor worker (as `palyra dev` starts them), and the supervisor's schedule
 * ticking at the configured interval. Unlike `stack.ts` it hands back the config and the ledger,
 * which the benchmark needs to put policies and read holds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildServer } from '../../src/api/server';
import { toolsDir } from '../../src/cli/temporal-target';
import { createLogger, routeTemporalLogsTo } from '../../src/cli/logger';
import { startSupervisorWorker, startWorker } from '../../src/cli/services';
import { composeServices } from '../../src/composition';
import { configSchema, loadConfig, type PalyraConfigInput } from '../../src/config';
import { openConfiguredLedger } from '../../src/ledger/setup';
import { connectClient } from '../../src/temporal/client';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { deleteSupervisorSchedule, ensureSupervisorSchedule } from '../../src/temporal/supervisor-schedule';
import { findFreePort } from '../../src/util/net';

const token = 'bench-admin-token-0123456789';

export async function openSupervisedStack(name: string, overrides: Omit<PalyraConfigInput, 'temporal'>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `palyra-bench-${name}-`));
  const cli = locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true });
  const server = await startDevServer({
    cliPath: cli.path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dir, 'temporal.db'),
    namespace: 'default',
  });
  const config = configSchema.parse({
    dataDir: dir,
    logLevel: 'warn',
    temporal: { address: server.address, taskQueue: `bench-${name}`, supervisorTaskQueue: `bench-${name}-supervisor` },
    server: { port: await findFreePort(), rateLimit: { max: 1_000_000, timeWindowMs: 60_000 } },
    auth: { tokens: [{ name: 'bench', token, role: 'admin', tenants: ['*'] }] },
    ...overrides,
  });
  const logger = createLogger(config, 'bench');
  // The faults make activities fail on purpose: only the SDK's errors are worth printing.
  routeTemporalLogsTo(createLogger({ logLevel: 'error' }, 'bench'));
  const { client, connection } = await connectClient({ address: server.address, namespace: 'default' });
  await registerSearchAttributes(connection, 'default');
  const ledger = await openConfiguredLedger(config, logger);
  const services = composeServices({ config, ledger: ledger.repo });
  const [runWorker, supervisorWorker] = await Promise.all([
    startWorker(config, server.address, logger, services),
    startSupervisorWorker(config, server.address, logger, { ledger: ledger.repo, client, temporalUiUrl: undefined }),
  ]);
  await ensureSupervisorSchedule(client, config);
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
    config,
    ledger: ledger.repo,
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    async close() {
      await deleteSupervisorSchedule(client, config);
      await app.close();
      await Promise.all([runWorker.stop(), supervisorWorker.stop()]);
      await ledger.close();
      await connection.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type SupervisedStack = Awaited<ReturnType<typeof openSupervisedStack>>;

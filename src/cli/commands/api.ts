import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { composeServices } from '../../composition';
import { createStartupTimings } from '../../diagnostics';
import { openConfiguredLedger } from '../../ledger/setup';
import { connectClient } from '../../temporal/client';
import { registerSearchAttributes } from '../../temporal/search-attributes';
import { ensureSupervisorSchedule } from '../../temporal/supervisor-schedule';
import { resolveAuthTokens } from '../admin-token';
import { createLogger } from '../logger';
import { onShutdown, reportFatal } from '../process';
import { assertApiPortFree, startApi, startSupervisorWorker } from '../services';

export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('run the HTTP API and console against TEMPORAL_ADDRESS')
    .action(async () => {
      await runApi().catch(reportFatal);
    });
}

async function runApi(): Promise<void> {
  const startup = createStartupTimings();
  const { config } = startup.measureSync('config', () => loadConfig());
  const logger = createLogger(config, 'palyra-api');
  await assertApiPortFree(config);
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
  const { client, connection } = await startup.measure('temporalConnect', () =>
    connectClient({ address, namespace: config.temporal.namespace }),
  );
  await startup.measure('searchAttributes', () => registerSearchAttributes(connection, config.temporal.namespace));
  const tokens = resolveAuthTokens(config);
  const migrationsStartedAt = performance.now();
  const ledger = await openConfiguredLedger(config, logger).catch(async (error: Error) => {
    await connection.close();
    throw error;
  });
  startup.record('migrations', performance.now() - migrationsStartedAt);
  const workerStartedAt = performance.now();
  // The API process polls the supervisor queue too, so a dead run-worker fleet is still detected.
  const supervisor = await startSupervisorWorker(config, address, logger, {
    ledger: ledger.repo,
    client,
    temporalUiUrl: config.temporal.uiUrl,
  }).catch(async (error: Error) => {
    await ledger.close();
    await connection.close();
    throw error;
  });
  startup.record('workerReady', performance.now() - workerStartedAt);
  await ensureSupervisorSchedule(client, config);
  const services = composeServices({ config, ledger: ledger.repo });
  const api = await startApi({
    config,
    logger,
    client,
    connection,
    temporalUiUrl: config.temporal.uiUrl,
    tokens,
    ledger: ledger.repo,
    sweeper: ledger.sweeper,
    routePlanner: services.routePlanner,
    providerHealth: services.providerHealth,
    // No admissionCalls: this process runs no run worker, so its breakers see no provider call and
    // routing here could pick a provider the workers know is failing; the workflow decides admission.
    startup,
  });
  onShutdown(async () => {
    await supervisor.stop();
    await api.stop();
    await ledger.close();
    await connection.close();
  });
  logger.info({ url: api.url, temporal: address }, 'API listening');
  if (tokens.generatedTokenFile) logger.info(`admin token in ${tokens.generatedTokenFile}`);
}

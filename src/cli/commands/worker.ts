import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { composeServices } from '../../composition';
import { openConfiguredLedger } from '../../ledger/setup';
import { assertReachable, connectClient } from '../../temporal/client';
import { createLogger, routeTemporalLogsTo } from '../logger';
import { onShutdown, reportFatal } from '../process';
import { startSupervisorWorker, startWorker } from '../services';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a Temporal worker (workflows and activities) against TEMPORAL_ADDRESS')
    .action(async () => {
      await runWorker().catch(reportFatal);
    });
}

async function runWorker(): Promise<void> {
  const { config } = loadConfig();
  const logger = createLogger(config, 'palyra-worker');
  routeTemporalLogsTo(logger);
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
  await assertReachable(address, 5_000);
  const ledger = await openConfiguredLedger(config, logger);
  const services = composeServices({ config, ledger: ledger.repo });
  const { client, connection } = await connectClient({ address, namespace: config.temporal.namespace });
  const closeAll = async () => {
    await ledger.close();
    await connection.close();
  };
  const worker = await startWorker(config, address, logger, services).catch(async (error: Error) => {
    await closeAll();
    throw error;
  });
  // Workers poll the supervisor queue as well as the API process: either keeps self-healing going.
  const supervisor = await startSupervisorWorker(config, address, logger, {
    ledger: ledger.repo,
    client,
    temporalUiUrl: config.temporal.uiUrl,
  }).catch(async (error: Error) => {
    await worker.stop();
    await closeAll();
    throw error;
  });
  onShutdown(async () => {
    await worker.stop();
    await supervisor.stop();
    await closeAll();
  });
  logger.info({ address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue }, 'worker polling');
  await Promise.all([worker.done, supervisor.done]);
}

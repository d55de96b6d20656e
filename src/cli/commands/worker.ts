import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { composeServices } from '../../composition';
import { openConfiguredLedger } from '../../ledger/setup';
import { assertReachable } from '../../temporal/client';
import { createLogger, routeTemporalLogsTo } from '../logger';
import { onShutdown, reportFatal } from '../process';
import { startWorker } from '../services';

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
  const worker = await startWorker(config, address, logger, services).catch(async (error: Error) => {
    await ledger.close();
    throw error;
  });
  onShutdown(async () => {
    await worker.stop();
    await ledger.close();
  });
  logger.info({ address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue }, 'worker polling');
  await worker.done;
}

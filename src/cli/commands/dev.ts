import type { Command } from 'commander';
import { composeServices } from '../../composition';
import { loadConfig } from '../../config';
import { createStartupTimings } from '../../diagnostics';
import { openConfiguredLedger, type ConfiguredLedger } from '../../ledger/setup';
import { connectClient } from '../../temporal/client';
import { registerSearchAttributes } from '../../temporal/search-attributes';
import { ensureSupervisorSchedule } from '../../temporal/supervisor-schedule';
import { delay } from '../../util/time';
import { resolveAuthTokens } from '../admin-token';
import { createLogger, routeTemporalLogsTo } from '../logger';
import { onShutdown, reportFatal } from '../process';
import {
  assertApiPortFree,
  startApi,
  startSupervisorWorker,
  startWorker,
  type RunningApi,
  type RunningWorker,
} from '../services';
import { resolveTemporalTarget, type TemporalTarget } from '../temporal-target';

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('all-in-one: Temporal dev server (unless TEMPORAL_ADDRESS is set), worker, API and console')
    .action(async () => {
      await runDev().catch(reportFatal);
    });
}

async function runDev(): Promise<void> {
  // Measured from process start, so module loading counts too: what `npm start` feels like.
  const startedAt = Math.round(performance.timeOrigin);
  const startup = createStartupTimings();
  const { config, source } = startup.measureSync('config', () => loadConfig());
  const logger = createLogger(config, 'palyra');
  routeTemporalLogsTo(logger);
  await assertApiPortFree(config);

  let target: TemporalTarget | undefined;
  let worker: RunningWorker | undefined;
  let supervisor: RunningWorker | undefined;
  let api: RunningApi | undefined;
  let closeClient: (() => Promise<void>) | undefined;
  let ledger: ConfiguredLedger | undefined;
  // Order matters: the worker drains while Temporal is still up, the dev server goes last.
  const shutdown = async () => {
    await worker?.stop();
    await supervisor?.stop();
    await api?.stop();
    await ledger?.close();
    await closeClient?.();
    await target?.devServer?.stop();
  };
  onShutdown(shutdown);

  try {
    ledger = await startup.measure('migrations', () => openConfiguredLedger(config, logger));
    const connectStartedAt = performance.now();
    target = await resolveTemporalTarget(config, logger);
    const { client, connection } = await connectClient({ address: target.address, namespace: config.temporal.namespace });
    startup.record('temporalConnect', performance.now() - connectStartedAt);
    closeClient = () => connection.close();
    const attributes = await startup.measure('searchAttributes', () =>
      registerSearchAttributes(connection, config.temporal.namespace),
    );
    if (attributes.added.length > 0) logger.info({ added: attributes.added }, 'registered search attributes');

    const tokens = resolveAuthTokens(config);
    // One set of services: the worker (fed by calls) and the API (routing plans) share one view of provider health.
    const services = composeServices({ config, ledger: ledger.repo });
    const workersStartedAt = performance.now();
    worker = await startWorker(config, target.address, logger, services);
    worker.done.catch((error: Error) => {
      process.stderr.write(`palyra: worker stopped: ${error.message}\n`);
      void shutdown().finally(() => process.exit(1));
    });
    supervisor = await startSupervisorWorker(config, target.address, logger, {
      ledger: ledger.repo,
      client,
      temporalUiUrl: target.uiUrl,
    });
    supervisor.done.catch((error: Error) => {
      process.stderr.write(`palyra: supervisor worker stopped: ${error.message}\n`);
      void shutdown().finally(() => process.exit(1));
    });
    startup.record('workerReady', performance.now() - workersStartedAt);
    await ensureSupervisorSchedule(client, config);
    api = await startApi({
      config,
      logger,
      client,
      connection,
      temporalUiUrl: target.uiUrl,
      tokens,
      ledger: ledger.repo,
      sweeper: ledger.sweeper,
      routePlanner: services.routePlanner,
      providerHealth: services.providerHealth,
      // The API and the worker share provider health here, so the API can decide admission itself.
      admissionCalls: services.admissionCalls,
      startup,
    });

    const readyAfterMs = await waitForReady(api.url, startedAt);
    const lines = [
      '',
      `Palyra is up${source ? ` (config: ${source})` : ''}; ready in ${(readyAfterMs / 1000).toFixed(1)} s`,
      `  API          ${api.url}`,
      `  API docs     ${api.url}/docs`,
      `  console      ${api.url}/console`,
      `  Temporal     ${target.address} (namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue})` +
        (target.devServer ? ', embedded dev server' : ''),
      `  supervisor   every ${config.selfHealing.supervisorIntervalMs / 1000} s on task queue ${config.temporal.supervisorTaskQueue} (self-healing mode ${config.selfHealing.mode})`,
      `  Temporal UI  ${target.uiUrl ?? '(set PALYRA_TEMPORAL_UI_URL to link runs to your Temporal UI)'}`,
      tokens.generatedTokenFile
        ? `  admin token  ${tokens.generatedTokenFile}  (curl -H "Authorization: Bearer $(cat ${tokens.generatedTokenFile})" …)`
        : `  auth         ${tokens.tokens.length} token(s) from config`,
      `  ledger       ${ledger.connection.description}`,
      `  data dir     ${config.dataDir}`,
      'Press Ctrl-C to stop.',
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } catch (error) {
    await shutdown();
    throw error;
  }
}

/** Polls our own `/readyz` over HTTP, so the printed time is what a client would see. */
async function waitForReady(apiUrl: string, startedAt: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${apiUrl}/readyz`).catch(() => undefined);
    if (response?.status === 200) return Date.now() - startedAt;
    await delay(100);
  }
  throw new Error('the API did not become ready within 60 s; see the log above');
}

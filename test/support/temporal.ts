import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { PalyraServices } from '../../src/composition';
import { configSchema, type PalyraConfig, type PalyraConfigInput } from '../../src/config';
import type { LedgerRepository } from '../../src/ledger';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { testEnv } from './env';
import type { TestLedger } from './ledger';

export function testTemporalAddress(): string {
  const address = process.env[testEnv.temporalAddress];
  if (!address) throw new Error('the jest global setup did not start a Temporal dev server');
  return address;
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

/** A validated config for tests, on a task queue of its own. */
export function testConfig(overrides: PalyraConfigInput = {}): PalyraConfig {
  return configSchema.parse({
    dataDir: '/tmp/palyra-test-unused',
    logLevel: 'silent',
    ...overrides,
    temporal: {
      taskQueue: uniqueTaskQueue(),
      supervisorTaskQueue: uniqueTaskQueue('supervisor'),
      ...overrides.temporal,
      address: testTemporalAddress(),
    },
  });
}

export async function connectTestClient(): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  await registerSearchAttributes(connection, 'default');
  return { connection, client: new Client({ connection, namespace: 'default' }) };
}

/**
 * Runs `fn` while a worker for `config`'s task queue polls the shared dev server, then shuts the
 * worker down and closes its connection. Activities book into `ledger` when given (so a test can
 * look at the books), otherwise into a fresh SQLite ledger of their own.
 */
export async function withTestWorker<T>(config: PalyraConfig, fn: () => Promise<T>, ledger?: LedgerRepository): Promise<T> {
  const [{ createPalyraWorker }, { openTestLedger }] = await Promise.all([
    import('../../src/temporal/worker'),
    import('./ledger'),
  ]);
  const ownLedger = ledger ? undefined : await openTestLedger('sqlite');
  const books = ledger ?? (ownLedger as TestLedger).repo;
  try {
    const { worker, connection } = await createPalyraWorker({
      address: testTemporalAddress(),
      namespace: 'default',
      taskQueue: config.temporal.taskQueue,
      activities: (await composeTestServices(config, books)).activities,
      workflowBundle: await workflowBundle(),
    });
    try {
      return await worker.runUntil(fn);
    } finally {
      await connection.close();
    }
  } finally {
    await ownLedger?.close();
  }
}

/**
 * Starts a worker for `config`'s supervisor task queue (supervisor ticks and incidents, with their
 * activities over `ledger`), as the API process and `palyra worker` run one, until `stop()`.
 */
export async function startSupervisorTestWorker(
  config: PalyraConfig,
  ledger: LedgerRepository,
): Promise<{ stop(): Promise<void> }> {
  const [{ createPalyraWorker }, { composeSupervisorActivities }] = await Promise.all([
    import('../../src/temporal/worker'),
    import('../../src/composition'),
  ]);
  const clientConnection = await Connection.connect({ address: testTemporalAddress() });
  const client = new Client({ connection: clientConnection, namespace: 'default' });
  try {
    const { worker, connection } = await createPalyraWorker({
      address: testTemporalAddress(),
      namespace: 'default',
      taskQueue: config.temporal.supervisorTaskQueue,
      activities: composeSupervisorActivities({ config, ledger, client }),
      workflowBundle: await workflowBundle(),
    });
    const running = worker.run();
    return {
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await connection.close();
        await clientConnection.close();
      },
    };
  } catch (error) {
    await clientConnection.close();
    throw error;
  }
}

/**
 * Starts a worker for `config`'s run task queue that keeps polling until `stop()` (for a test file
 * whose cases all share one worker: a worker takes seconds to start).
 */
export async function startTestWorker(config: PalyraConfig, ledger: LedgerRepository): Promise<{ stop(): Promise<void> }> {
  const { createPalyraWorker } = await import('../../src/temporal/worker');
  const { worker, connection } = await createPalyraWorker({
    address: testTemporalAddress(),
    namespace: 'default',
    taskQueue: config.temporal.taskQueue,
    activities: (await composeTestServices(config, ledger)).activities,
    workflowBundle: await workflowBundle(),
  });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

const composed = new WeakMap<LedgerRepository, WeakMap<PalyraConfig, Promise<PalyraServices>>>();

/**
 * What a test's API and worker run over: the production composition over `ledger`. A test's API
 * and worker built with the same config and ledger share one (provider health included), as the
 * API and the worker of `palyra dev` do.
 */
export function composeTestServices(config: PalyraConfig, ledger: LedgerRepository): Promise<PalyraServices> {
  const byConfig = composed.get(ledger) ?? new WeakMap<PalyraConfig, Promise<PalyraServices>>();
  composed.set(ledger, byConfig);
  let services = byConfig.get(config);
  if (!services) {
    // Imported lazily so unit-test files never load the activities.
    services = import('../../src/composition').then(({ composeServices }) => composeServices({ config, ledger }));
    byConfig.set(config, services);
  }
  return services;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling takes seconds; each test file bundles once. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  // Imported lazily so unit-test files never load the worker.
  bundle ??= import('../../src/temporal/worker').then((m) => m.bundlePalyraWorkflows());
  return bundle;
}

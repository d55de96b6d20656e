import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { PalyraConfig } from '../config';
import type { AdmissionCalls } from '../api/runs/in-process-admission';
import { buildServer } from '../api/server';
import { composeSupervisorActivities, type PalyraServices } from '../composition';
import type { StartupTimings } from '../diagnostics';
import type { LedgerRepository, ReservationSweeper } from '../ledger';
import { createPalyraWorker } from '../temporal/worker';
import { isPortFree } from '../util/net';
import type { ResolvedTokens } from './admin-token';
import { palyraVersion } from './version';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export interface RunningWorker {
  worker: Worker;
  /** Settles when the worker stops; rejects if it stopped because of an error. */
  done: Promise<void>;
  /** Stops polling, lets running activities finish within the grace time, closes the connection. */
  stop(): Promise<void>;
}

export async function startWorker(
  config: PalyraConfig,
  address: string,
  logger: Logger,
  { providers, activities }: Pick<PalyraServices, 'providers' | 'activities'>,
): Promise<RunningWorker> {
  for (const [id, reason] of providers.unavailable) logger.warn({ provider: id }, `provider '${id}' is unavailable: ${reason}`);
  return startQueueWorker(config, address, logger, config.temporal.taskQueue, activities);
}

/**
 * Polls the supervisor task queue: the supervisor's ticks and the incidents, with their activities.
 * The API process runs one as well as workers, so a dead run-worker fleet is still detected.
 */
export async function startSupervisorWorker(
  config: PalyraConfig,
  address: string,
  logger: Logger,
  { ledger, client, temporalUiUrl }: { ledger: LedgerRepository; client: Client; temporalUiUrl: string | undefined },
): Promise<RunningWorker> {
  const activities = composeSupervisorActivities({ config, ledger, client, temporalUiUrl, logger });
  return startQueueWorker(config, address, logger, config.temporal.supervisorTaskQueue, activities);
}

async function startQueueWorker(
  config: PalyraConfig,
  address: string,
  logger: Logger,
  taskQueue: string,
  activities: NonNullable<WorkerOptions['activities']>,
): Promise<RunningWorker> {
  const { worker, connection } = await createPalyraWorker({
    address,
    namespace: config.temporal.namespace,
    taskQueue,
    activities,
    logger,
  });
  const done = worker.run().finally(() => closeQuietly(connection));
  let stopping: Promise<void> | undefined;
  return {
    worker,
    done,
    stop() {
      stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch((error: Error) => logger.error({ err: error }, 'worker stopped with an error'));
      })();
      return stopping;
    },
  };
}

async function closeQuietly(connection: NativeConnection): Promise<void> {
  await connection.close().catch(() => undefined);
}

export interface RunningApi {
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

export async function startApi(options: {
  config: PalyraConfig;
  logger: Logger;
  client: Client;
  connection: Connection;
  temporalUiUrl: string | undefined;
  tokens: ResolvedTokens;
  ledger: LedgerRepository;
  sweeper?: Pick<ReservationSweeper, 'stats'>;
  routePlanner: PalyraServices['routePlanner'];
  providerHealth?: PalyraServices['providerHealth'];
  /** Admission decided in the API process: only where its routing shares provider health with a worker. */
  admissionCalls?: AdmissionCalls;
  startup?: StartupTimings;
}): Promise<RunningApi> {
  const { config } = options;
  const app = await buildServer({
    config,
    logger: options.logger,
    temporal: { client: options.client, connection: options.connection, uiUrl: options.temporalUiUrl },
    tokens: options.tokens.tokens,
    ledger: options.ledger,
    ...(options.sweeper ? { sweeper: options.sweeper } : {}),
    routePlanner: options.routePlanner,
    ...(options.providerHealth ? { providerHealth: options.providerHealth } : {}),
    ...(options.admissionCalls ? { admissionCalls: options.admissionCalls } : {}),
    ...(options.startup ? { startup: options.startup } : {}),
    version: palyraVersion(),
  });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await app.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw apiPortInUse(config);
    throw error;
  }
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${config.server.port}`;
  return { app, url, stop: () => app.close() };
}

export async function assertApiPortFree(config: PalyraConfig): Promise<void> {
  if (!(await isPortFree(config.server.port, config.server.host))) throw apiPortInUse(config);
}

function apiPortInUse(config: PalyraConfig): StartupError {
  return new StartupError(
    `port ${config.server.port} (Palyra API) is already in use on ${config.server.host}: stop the process using it or set PALYRA_PORT to a free port`,
  );
}

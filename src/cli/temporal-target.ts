import path from 'node:path';
import type { Logger } from 'pino';
import type { PalyraConfig } from '../config';
import { locateTool, startDevServer, temporalCli, type RunningDevServer } from '../temporal/dev-server';

export interface TemporalTarget {
  address: string;
  uiUrl: string | undefined;
  /** Present when this process started the embedded dev server and must stop it. */
  devServer?: RunningDevServer;
}

import { toolsDir } from '../temporal/dev-server';

export { toolsDir };

/**
 * The Temporal frontend to use: `TEMPORAL_ADDRESS` when set, otherwise the embedded dev server,
 * started on a SQLite file in the data dir so histories survive restarts.
 */
export async function resolveTemporalTarget(config: PalyraConfig, logger: Logger): Promise<TemporalTarget> {
  if (config.temporal.address) {
    return { address: config.temporal.address, uiUrl: config.temporal.uiUrl };
  }
  const cli = locateTool(temporalCli, { explicitPath: config.temporal.cliPath, toolsDir: toolsDir(config), allowInstall: true });
  logger.debug({ cli: cli.path, source: cli.source }, 'using Temporal CLI');
  const devLog = logger.child({ component: 'temporal-dev-server' });
  const devServer = await startDevServer({
    cliPath: cli.path,
    port: config.temporal.devServer.port,
    uiPort: config.temporal.devServer.uiPort,
    dbFile: path.join(config.dataDir, 'temporal.db'),
    pidFile: path.join(config.dataDir, 'temporal-dev-server.pid'),
    namespace: config.temporal.namespace,
    onOutput: (line) => devLog.debug(line),
  });
  return { address: devServer.address, uiUrl: config.temporal.uiUrl ?? devServer.uiUrl, devServer };
}

import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';
import type { PalyraConfig } from '../config';

export function createLogger(config: Pick<PalyraConfig, 'logLevel'>, name: string): Logger {
  return pino({ name, level: config.logLevel, redact: { paths: ['req.headers.authorization'], censor: '[redacted]' } });
}

let runtimeInstalled = false;

/**
 * Routes the Temporal SDK's own logs (worker and core) into pino. The Runtime is a process-wide
 * singleton that must be installed before the first NativeConnection, hence the guard.
 */
export function routeTemporalLogsTo(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const child = logger.child({ component: 'temporal' });
  const sdkLevel: LogLevel = logger.levelVal <= 20 ? 'DEBUG' : logger.levelVal <= 30 ? 'INFO' : 'WARN';
  Runtime.install({
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      child[level]({ ...entry.meta }, entry.message);
    }),
  });
}

import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino, { type Logger, type LoggerOptions } from 'pino';
import { urlForLogs } from '../api/request-hygiene';
import type { PalyraConfig } from '../config';

/**
 * Palyra's logger options: the bearer token of a request is never written, nor the values of
 * secret-looking query parameters (`?token=…`).
 */
export function loggerOptions(config: Pick<PalyraConfig, 'logLevel'>, name: string): LoggerOptions {
  return {
    name,
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization'], censor: '[redacted]' },
    serializers: {
      req: (request: { method?: string; url?: string; host?: string; ip?: string; id?: string }) => ({
        id: request.id,
        method: request.method,
        url: request.url === undefined ? undefined : urlForLogs(request.url),
        host: request.host,
        remoteAddress: request.ip,
      }),
    },
  };
}

export function createLogger(config: Pick<PalyraConfig, 'logLevel'>, name: string): Logger {
  return pino(loggerOptions(config, name));
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

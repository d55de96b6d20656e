import { ConfigError } from '../config';
import { LedgerSetupError } from '../ledger/setup';
import { ApiClientError } from './api-client';
import { DevServerError, ToolNotFoundError } from '../temporal/dev-server';
import { TemporalUnreachableError } from '../temporal/client';
import { StartupError } from './services';

/** Errors whose message already says what is wrong and how to fix it: printed as one line. */
const explainedErrors = [
  ConfigError,
  DevServerError,
  ToolNotFoundError,
  TemporalUnreachableError,
  StartupError,
  LedgerSetupError,
  ApiClientError,
];

export function reportFatal(error: unknown): never {
  if (explainedErrors.some((type) => error instanceof type)) {
    process.stderr.write(`palyra: ${(error as Error).message}\n`);
  } else {
    process.stderr.write(`palyra: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
}

/**
 * A Ctrl-C under `npm start` reaches us twice: once from the terminal's process group and once
 * forwarded by npm. Repeats inside this window are that echo, not an impatient operator.
 */
const duplicateSignalWindowMs = 1_500;

/**
 * The single lifecycle owner of a long-running command: on SIGINT/SIGTERM (or a fatal error) it
 * runs `shutdown` once, in order, then exits. A later signal during shutdown exits at once, and
 * a shutdown that overruns `graceMs` is cut short.
 *
 * (close-with-grace was the plan, but it exits hard on the second signal, which npm's forwarding
 * always produces.)
 */
export function onShutdown(shutdown: () => Promise<void>, graceMs = 30_000): void {
  let startedAt: number | undefined;
  const run = (reason: string, exitCode: number) => {
    if (startedAt !== undefined) {
      if (Date.now() - startedAt > duplicateSignalWindowMs) {
        process.stderr.write(`palyra: ${reason} again, exiting without finishing shutdown\n`);
        process.exit(1);
      }
      return;
    }
    startedAt = Date.now();
    process.stderr.write(`palyra: ${reason}, shutting down\n`);
    setTimeout(() => {
      process.stderr.write(`palyra: shutdown took longer than ${graceMs} ms, exiting\n`);
      process.exit(1);
    }, graceMs).unref();
    shutdown().then(
      () => process.exit(exitCode),
      (error: Error) => {
        process.stderr.write(`palyra: shutdown failed: ${error.stack ?? error.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => run('SIGINT received', 0));
  process.on('SIGTERM', () => run('SIGTERM received', 0));
  process.on('uncaughtException', (error) => run(`uncaught error: ${error.stack ?? error.message}`, 1));
  process.on('unhandledRejection', (error) => run(`unhandled rejection: ${(error as Error)?.stack ?? String(error)}`, 1));
}

/** What the thin client commands share to report: money, JSON or text output, and errors. */
import type { ApiTargetOptions } from './api-client';
import { reportFatal } from './process';

/** Micro-USD as dollars, for people. */
export const usd = (micro: number) => `$${(micro / 1e6).toFixed(6)}`;

export type JsonOption = ApiTargetOptions & { json?: boolean };

/** Runs a command's action and reports any error in one line (exit 1). */
export const guarded =
  <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      reportFatal(error);
    }
  };

/** Prints `value` as JSON with `--json`, otherwise the readable `text`. */
export function print(options: JsonOption, value: unknown, text: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

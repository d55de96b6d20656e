/**
 * Start-up step timings of a process (`palyra dev`, `palyra api`), each against a budget. A step over
 * its budget makes the process section `degraded` (`startup_step_slow`): nothing is broken, but the
 * next restart will be slow for the same reason.
 */
export const startupStepBudgetsMs = {
  /** Reading and validating the config file and environment. */
  config: 250,
  /** Opening the ledger, running migrations, syncing config policies. */
  migrations: 2_000,
  /** Reaching the Temporal frontend; under `palyra dev` this includes starting the embedded dev server. */
  temporalConnect: 5_000,
  /** Registering Palyra's search attributes (idempotent). */
  searchAttributes: 2_000,
  /** Bundling workflow code and starting the process's workers until they poll. */
  workerReady: 8_000,
} as const;

export type StartupStep = keyof typeof startupStepBudgetsMs;

export interface StartupTimings {
  /** Runs `step` and records how long it took (also when it throws). */
  measure<T>(step: StartupStep, run: () => Promise<T>): Promise<T>;
  measureSync<T>(step: StartupStep, run: () => T): T;
  /** Records a step measured by the caller (one that spans several calls). */
  record(step: StartupStep, durationMs: number): void;
  /** Recorded steps in the order they finished. */
  steps(): { step: StartupStep; durationMs: number }[];
}

export function createStartupTimings(): StartupTimings {
  const recorded: { step: StartupStep; durationMs: number }[] = [];
  const record = (step: StartupStep, startedAt: number) =>
    recorded.push({ step, durationMs: Math.round(performance.now() - startedAt) });
  return {
    async measure(step, run) {
      const startedAt = performance.now();
      try {
        return await run();
      } finally {
        record(step, startedAt);
      }
    },
    measureSync(step, run) {
      const startedAt = performance.now();
      try {
        return run();
      } finally {
        record(step, startedAt);
      }
    },
    record(step, durationMs) {
      recorded.push({ step, durationMs: Math.round(durationMs) });
    },
    steps: () => recorded.map((entry) => ({ ...entry })),
  };
}

import type { DetectorName, SelfHealingMode } from './types';

/**
 * The `selfHealing` config section as the domain reads it (the zod schema in src/config produces it,
 * every field defaulted). Thresholds are named as in the detector table of the README.
 */
export interface DetectorThresholds {
  stalled_stream: { stallAfterMs: number };
  retry_storm: { attempts: number };
  no_pollers: { afterMs: number };
  workflow_task_failing: { attempts: number };
  orphaned_reservation: { graceMs: number };
  approval_waiting: { afterMs: number };
  run_overdue: { afterMs: number };
  stuck_cancellation: { afterMs: number };
  spend_spike: { factor: number; minMicroUsd: number };
}

/** One detector's settings: its thresholds, and a mode overriding the global one when set. */
export type DetectorSettings<D extends DetectorName> = DetectorThresholds[D] & { mode?: SelfHealingMode };

export interface SelfHealingSettings {
  mode: SelfHealingMode;
  supervisorIntervalMs: number;
  /** Across all incidents of the installation. */
  maxRemediationsPerMinute: number;
  circuitBreaker: { consecutiveFailures: number; openMs: number };
  detectors: { [D in DetectorName]: DetectorSettings<D> };
}

/** The defaults of every threshold; the config schema defaults to these, so there is one source. */
export const defaultDetectorThresholds: DetectorThresholds = {
  stalled_stream: { stallAfterMs: 60_000 },
  retry_storm: { attempts: 3 },
  no_pollers: { afterMs: 60_000 },
  workflow_task_failing: { attempts: 2 },
  // A hold is booked just before its workflow is visible; the grace keeps that moment from looking orphaned.
  orphaned_reservation: { graceMs: 30_000 },
  approval_waiting: { afterMs: 600_000 },
  run_overdue: { afterMs: 3_600_000 },
  stuck_cancellation: { afterMs: 120_000 },
  // The floor keeps tiny tenants (cents an hour) from paging anyone over a relative jump.
  spend_spike: { factor: 3, minMicroUsd: 1_000_000 },
};

export const defaultSelfHealingSettings: SelfHealingSettings = {
  mode: 'observe_only',
  supervisorIntervalMs: 15_000,
  maxRemediationsPerMinute: 4,
  circuitBreaker: { consecutiveFailures: 3, openMs: 300_000 },
  detectors: defaultDetectorThresholds,
};

/** The mode in force for a detector: its own override, else the global mode. */
export function detectorModeOf(settings: SelfHealingSettings, detector: DetectorName): SelfHealingMode {
  return settings.detectors[detector].mode ?? settings.mode;
}

import type { LedgerRepository } from './repository';

/** What the sweeper has done so far in this process (metrics, diagnostics). */
export interface SweeperStats {
  intervalMs: number;
  sweeps: number;
  lastSweepAt: string | null;
  lastExpiredCount: number;
  expiredTotal: number;
  /** Reservations that failed to expire (each skipped and tried again at the next sweep). */
  expiryFailuresTotal: number;
  /** Sweeps that failed as a whole (the database did not answer). */
  sweepFailuresTotal: number;
  lastFailure: { at: string; reservationId?: string; message: string } | null;
}

export interface ReservationSweeper {
  stats(): SweeperStats;
  /** Stops the timer and waits for a sweep in progress, so the connection can close after it. */
  stop(): Promise<void>;
}

/**
 * Releases pending reservations past their expiry every `intervalMs` (invariant I4: no pending
 * reservation outlives its expiry by more than one sweep interval). A run that crashed before it
 * settled therefore gives its hold back instead of leaking it. Every process that owns a ledger
 * may run one: each expiry claims its reservation with a compare-and-set, so overlapping sweepers
 * (the API's and the worker's on one PostgreSQL) expire each hold once. A reservation that fails
 * to expire is reported and skipped; the others are still expired.
 */
export function startReservationSweeper(options: {
  repo: Pick<LedgerRepository, 'expireDue'>;
  intervalMs: number;
  onSwept?: (expiredReservationIds: string[]) => void;
  onExpiryFailed?: (reservationId: string, error: Error) => void;
  onError: (error: Error) => void;
}): ReservationSweeper {
  const stats: SweeperStats = {
    intervalMs: options.intervalMs,
    sweeps: 0,
    lastSweepAt: null,
    lastExpiredCount: 0,
    expiredTotal: 0,
    expiryFailuresTotal: 0,
    sweepFailuresTotal: 0,
    lastFailure: null,
  };
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async () => {
    const at = new Date();
    try {
      const expired = await options.repo.expireDue(at, (reservationId, error) => {
        stats.expiryFailuresTotal += 1;
        stats.lastFailure = { at: new Date().toISOString(), reservationId, message: error.message };
        options.onExpiryFailed?.(reservationId, error);
      });
      stats.lastExpiredCount = expired.length;
      stats.expiredTotal += expired.length;
      if (expired.length > 0) options.onSwept?.(expired);
    } catch (error) {
      // A database hiccup must not stop later sweeps; the next tick tries again.
      stats.sweepFailuresTotal += 1;
      stats.lastFailure = { at: new Date().toISOString(), message: (error as Error).message };
      options.onError(error as Error);
    } finally {
      stats.sweeps += 1;
      stats.lastSweepAt = at.toISOString();
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    inFlight = inFlight.then(sweep);
  }, options.intervalMs);
  timer.unref();
  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}

import type { LedgerRepository } from './repository';

export interface ReservationSweeper {
  /** Stops the timer and waits for a sweep in progress, so the connection can close after it. */
  stop(): Promise<void>;
}

/**
 * Releases pending reservations past their expiry every `intervalMs` (invariant I4: no pending
 * reservation outlives its expiry by more than one sweep interval). A run that crashed before it
 * settled therefore gives its hold back instead of leaking it. Every process that owns a ledger
 * may run one: expiring resolves a reservation at most once, so overlapping sweepers are harmless.
 */
export function startReservationSweeper(options: {
  repo: Pick<LedgerRepository, 'expireDue'>;
  intervalMs: number;
  onSwept?: (expiredReservationIds: string[]) => void;
  onError: (error: Error) => void;
}): ReservationSweeper {
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async () => {
    try {
      const expired = await options.repo.expireDue(new Date());
      if (expired.length > 0) options.onSwept?.(expired);
    } catch (error) {
      // A database hiccup must not stop later sweeps; the next tick tries again.
      options.onError(error as Error);
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    inFlight = inFlight.then(sweep);
  }, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}

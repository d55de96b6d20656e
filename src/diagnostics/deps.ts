import type { Client } from '@temporalio/client';
import type { PalyraConfig } from '../config';
import type { LedgerRepository, ReservationSweeper } from '../ledger';
import type { ProviderHealthMonitor } from '../route-planner/health';
import type { StartupTimings } from './startup';

/** What diagnostics read. Nothing here is written to. */
export interface DiagnosticsDeps {
  config: PalyraConfig;
  ledger: LedgerRepository;
  /** Undefined: the sections that need Temporal are `unavailable`. */
  client?: Client;
  /** This process's sweeper, when it runs one. */
  sweeper?: Pick<ReservationSweeper, 'stats'>;
  /** This process's provider breakers, when it routes (the API does; `palyra doctor` does not). */
  providerHealth?: Pick<ProviderHealthMonitor, 'snapshot'>;
  startup?: StartupTimings;
  version: string;
  now?: () => Date;
}

/** What every section gatherer gets: the deps, one `now` for the whole snapshot, its own deadline. */
export interface SectionContext {
  deps: DiagnosticsDeps;
  now: Date;
  /** Epoch ms past which the section's answer is no longer waited for. */
  deadline: number;
}

export function requireClient(deps: DiagnosticsDeps): Client {
  if (!deps.client) throw new Error('no Temporal client: this process has no connection to Temporal');
  return deps.client;
}

/** A Temporal call bounded by the section's deadline (gRPC deadline, so the call itself is cancelled). */
export async function temporalCall<T>(context: SectionContext, call: (client: Client) => Promise<T>): Promise<T> {
  const client = requireClient(context.deps);
  return client.connection.withDeadline(context.deadline, () => call(client));
}

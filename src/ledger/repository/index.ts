import { sql } from 'kysely';
import type { LedgerConnection } from '../database';
import { createAudit } from './audit';
import type { LedgerContext } from './context';
import { createPolicies } from './policies';
import { createPrices } from './prices';
import { createRecords } from './records';
import { createReports } from './reports';
import { createReservations } from './reservations';
import { createSelfHealing } from './self-healing';
import { createSpend } from './spend';
import { createWriteTransaction } from './transaction';
import { createWindows } from './windows';

export {
  auditLogRetentionMs,
  auditPruneIntervalMs,
  maxAuditPage,
  type AuditEntry,
  type AuditOutcome,
  type AuditPage,
  type AuditPosition,
  type AuditQuery,
  type AuditRecord,
} from './audit';
export { LedgerConflictError, LedgerNotFoundError } from './errors';
export type { PolicySource, StoredPolicy } from './policies';
export type { FailedAttempt, RoutingDecisionRecord } from './records';
export type { WindowReport } from './reports';
export {
  maxSpendBuckets,
  maxSpendSeries,
  otherSpendKey,
  spendBucketStart,
  spendBuckets,
  spendGroupings,
  type SpendBucket,
  type SpendGrouping,
  type SpendQuery,
  type SpendReport,
  type SpendSeries,
} from './spend';
export {
  settledAfterExpiry,
  type RenewHoldOutcome,
  type RenewHoldRequest,
  type ReservationView,
  type ReserveOutcome,
  type ReserveRequest,
  type ResolutionOutcome,
  type SettleRequest,
} from './reservations';
export {
  decideRemediationSlot,
  maxRecentRemediations,
  remediationLogRetentionMs,
  type PendingReservationSummary,
  type ProviderCircuitOverride,
  type RemediationBreakerSettings,
  type RemediationCount,
  type RemediationLogEntry,
  type RemediationLogStatus,
  type RemediationSlotClaim,
  type RemediationSlotRequest,
  type SkippedRemediation,
  type SupervisorTick,
  type SupervisorTickRecord,
  type TenantPause,
} from './self-healing';

export interface LedgerRepositoryOptions {
  connection: LedgerConnection;
  clock?: () => Date;
  /**
   * Called between the statements of reserve, settle, release, expiry and renewal. Tests throw
   * here to prove that a crash at any point leaves the ledger as it was before the call.
   */
  checkpoint?: (point: string) => void | Promise<void>;
}

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;

export function createLedgerRepository({
  connection,
  clock = () => new Date(),
  checkpoint = () => undefined,
}: LedgerRepositoryOptions) {
  const { db, dialect, sqlite } = connection;
  const context: LedgerContext = { db, dialect, sqlite, clock, checkpoint, ...createWriteTransaction(db, dialect) };
  const policies = createPolicies(context);
  const windows = createWindows(context);

  async function ping(): Promise<void> {
    await sql`select 1`.execute(db);
  }

  return {
    connection,
    ...policies,
    ...createPrices(context),
    ...createReservations(context, windows),
    ...createReports(context, policies, windows),
    ...createSpend(context),
    ...createRecords(context),
    ...createSelfHealing(context),
    ...createAudit(context),
    ping,
  };
}

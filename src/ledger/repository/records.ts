import type { RoutingDecision } from '../../domain/routing';
import type { LedgerContext } from './context';

/** A provider attempt that failed after streaming, with what it streamed (our own count). */
export interface FailedAttempt {
  runId: string;
  attempt: number;
  inputTokens: number;
  outputTokens: number;
  failure: string;
}

export interface RoutingDecisionRecord {
  /** The run id for a run's decision; a fresh id for a plan asked for through the API. */
  decisionId: string;
  runId: string | null;
  tenantId: string;
  principalId: string;
  decision: RoutingDecision;
}

/** What the ledger keeps beside the money: failed provider attempts and routing decisions. */
export function createRecords({ db, clock }: LedgerContext) {
  /** Records what a failed provider attempt streamed (once per run and attempt). */
  async function recordFailedAttempt(attempt: FailedAttempt): Promise<void> {
    await db
      .insertInto('provider_attempts')
      .values({
        run_id: attempt.runId,
        attempt: attempt.attempt,
        input_tokens: attempt.inputTokens,
        output_tokens: attempt.outputTokens,
        failure: attempt.failure,
        created_at: clock().toISOString(),
      })
      .onConflict((oc) => oc.columns(['run_id', 'attempt']).doNothing())
      .execute();
  }

  async function failedAttempts(runId: string): Promise<FailedAttempt[]> {
    const rows = await db.selectFrom('provider_attempts').selectAll().where('run_id', '=', runId).orderBy('attempt').execute();
    return rows.map((r) => ({
      runId: r.run_id,
      attempt: r.attempt,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      failure: r.failure,
    }));
  }

  /** Stores a routing decision once (a repeated call with the same id keeps the first). */
  async function recordRoutingDecision(record: RoutingDecisionRecord): Promise<void> {
    const { decision } = record;
    await db
      .insertInto('routing_decisions')
      .values({
        decision_id: record.decisionId,
        run_id: record.runId,
        tenant_id: record.tenantId,
        principal_id: record.principalId,
        task_class: decision.taskClass,
        mode: decision.mode,
        requested_model: decision.requestedModel,
        selected_model: decision.selectedModel,
        action: decision.action,
        reason_codes: JSON.stringify(decision.reasonCodes),
        decision: JSON.stringify(decision),
        created_at: clock().toISOString(),
      })
      .onConflict((oc) => oc.column('decision_id').doNothing())
      .execute();
  }

  async function getRoutingDecision(decisionId: string): Promise<RoutingDecision | undefined> {
    const row = await db
      .selectFrom('routing_decisions')
      .select('decision')
      .where('decision_id', '=', decisionId)
      .executeTakeFirst();
    return row ? (JSON.parse(row.decision) as RoutingDecision) : undefined;
  }

  return { recordFailedAttempt, failedAttempts, recordRoutingDecision, getRoutingDecision };
}

import type { Insertable, Selectable } from 'kysely';
import { generationOfKey, type AdmissionDecision } from '../../domain/budget';
import { costMicroUsd, type ModelPrice } from '../../domain/pricing';
import type { LedgerDatabase } from '../schema';
import type { StoredPolicy } from './policies';
import type { ReserveOutcome, ReserveRequest, ResolutionOutcome, SettleRequest } from './reservations';

/**
 * What every write path of a reservation (the locked Kysely transactions, PostgreSQL's single
 * statements, SQLite's synchronous transactions) stores and reads alike, so the paths cannot drift.
 */

type ReservationRow = Selectable<LedgerDatabase['reservations']>;

/** The reserve outcome of an admission decision. */
export function admissionOutcome(request: ReserveRequest, decision: AdmissionDecision): ReserveOutcome {
  return decision.admitted
    ? {
        status: 'admitted',
        reservationId: request.reservationId,
        amountMicroUsd: decision.costMicroUsd,
        tokens: decision.tokens,
        maxOutputTokens: decision.maxOutputTokens,
        clamped: decision.clamped,
        catalogVersion: request.catalogVersion,
        overriddenPolicyIds: decision.overriddenPolicyIds,
      }
    : { status: 'refused', reservationId: request.reservationId, refusal: decision.refusal };
}

export function reservationRow(
  request: ReserveRequest,
  now: Date,
  outcome: ReserveOutcome,
): Insertable<LedgerDatabase['reservations']> {
  const admitted = outcome.status === 'admitted' ? outcome : null;
  return {
    reservation_id: request.reservationId,
    run_id: request.runId,
    state: admitted ? 'pending' : 'refused',
    tenant_id: request.scope.tenantId,
    principal_id: request.scope.principalId,
    model_id: request.scope.modelId,
    input_tokens: request.inputTokens,
    max_output_tokens: admitted ? admitted.maxOutputTokens : request.maxOutputTokens,
    amount_micro_usd: admitted ? admitted.amountMicroUsd : 0,
    tokens: admitted ? admitted.tokens : 0,
    input_micro_usd_per_mtok: request.price.inputMicroUsdPerMTok,
    output_micro_usd_per_mtok: request.price.outputMicroUsdPerMTok,
    catalog_version: request.catalogVersion,
    expires_at: request.expiresAt.toISOString(),
    created_at: now.toISOString(),
    resolved_at: admitted ? null : now.toISOString(),
    settled_micro_usd: null,
    settled_tokens: null,
    outcome: JSON.stringify(outcome),
    resolution: null,
  };
}

/** The prices a reservation was made at: its settle and top-ups are priced with them, never the current ones. */
export function pricesOf(
  reservation: Pick<ReservationRow, 'input_micro_usd_per_mtok' | 'output_micro_usd_per_mtok'>,
): ModelPrice {
  return {
    inputMicroUsdPerMTok: reservation.input_micro_usd_per_mtok,
    outputMicroUsdPerMTok: reservation.output_micro_usd_per_mtok,
  };
}

/**
 * The policy a hold's window belongs to, or undefined when the policy was deleted or has since
 * changed unit or scope (a newer generation): such a window takes no new limit and no alerts.
 */
export function policyOfHold(policies: Map<string, StoredPolicy>, hold: { policy_id: string; period_key: string }) {
  const policy = policies.get(hold.policy_id);
  return policy && policy.generation === generationOfKey(hold.period_key) ? policy : undefined;
}

/**
 * The outcome of a settle booked within its hold, priced with the reservation's own prices; the
 * caller checks `cost` and `tokens` against the hold (or has the statement check them).
 */
export function settledWithinHold(
  request: SettleRequest,
  prices: ModelPrice,
): { outcome: ResolutionOutcome; cost: number; tokens: number } {
  const cost = costMicroUsd(prices, request.actual);
  const tokens = request.actual.inputTokens + request.actual.outputTokens;
  return {
    outcome: { status: 'settled', reservationId: request.reservationId, costMicroUsd: cost, tokens, overage: false },
    cost,
    tokens,
  };
}

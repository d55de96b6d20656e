import { ApplicationFailure } from '@temporalio/activity';
import type { PalyraConfig } from '../config';
import { buildEstimate } from '../domain/pricing';
import type { LedgerRepository } from '../ledger';
import { UnknownPriceError } from '../price-catalog/catalog';
import { loadPriceCatalog } from '../price-catalog/load';
import { countPromptTokens } from '../price-catalog/tokens';
import {
  failureTypes,
  runReservationId,
  bookingIdOf,
  type AdmitRunInput,
  type RecordedBookingInput,
  type RunAdmission,
  type SettleRunInput,
  type SettleRunResult,
} from '../temporal/contracts';

export interface LedgerActivityDeps {
  ledger: LedgerRepository;
  config: Pick<PalyraConfig, 'models' | 'providers'>;
}

/**
 * The run's side of the budget ledger. Every call is keyed by the run's reservation id, so an
 * activity retried after a lost response (or on another worker) books nothing twice: the ledger
 * answers a repeated reserve, settle or release with its first outcome.
 */
export function createLedgerActivities({ ledger, config }: LedgerActivityDeps) {
  return {
    /** Prices the prompt and reserves the upper estimate against every matching budget policy. */
    async admitRun(input: RecordedBookingInput<AdmitRunInput>): Promise<RunAdmission> {
      const bookingId = bookingIdOf(input);
      const catalog = await loadPriceCatalog(ledger, config);
      let answer;
      try {
        answer = catalog.priceFor(input.modelId);
      } catch (error) {
        if (!(error instanceof UnknownPriceError)) throw error;
        throw ApplicationFailure.create({ type: failureTypes.unknownPrice, message: error.message, nonRetryable: true });
      }
      const { inputTokens, precision } = countPromptTokens(input.messages, input.modelId);
      const estimate = buildEstimate({
        modelId: input.modelId,
        inputTokens,
        maxOutputTokens: input.maxOutputTokens,
        price: answer.price,
        source: answer.source,
        precision,
        catalogVersion: answer.catalogVersion,
      });
      const reservationId = input.reservationId ?? runReservationId(bookingId, input.approvalOverride !== undefined);
      const outcome = await ledger.reserve({
        reservationId,
        runId: bookingId,
        scope: { tenantId: input.tenantId, principalId: input.principalId, modelId: input.modelId },
        inputTokens,
        maxOutputTokens: input.maxOutputTokens,
        price: answer.price,
        catalogVersion: answer.catalogVersion,
        expiresAt: holdExpiry(input),
        ...(input.approvalOverride ? { approvalOverride: input.approvalOverride } : {}),
      });
      const { price: _price, modelId: _modelId, ...estimateView } = estimate;
      return outcome.status === 'admitted'
        ? {
            status: 'admitted',
            reservationId,
            modelId: input.modelId,
            estimate: estimateView,
            maxOutputTokens: outcome.maxOutputTokens,
            clamped: outcome.clamped,
            reservedMicroUsd: outcome.amountMicroUsd,
          }
        : {
            // An approval can lift an approval_required policy, unless this run was already approved.
            status: outcome.refusal.action === 'approval_required' && !input.approvalOverride ? 'awaiting_approval' : 'denied',
            reservationId,
            modelId: input.modelId,
            estimate: estimateView,
            maxOutputTokens: 0,
            clamped: false,
            reservedMicroUsd: 0,
            refusal: outcome.refusal,
          };
    },

    /**
     * Closes the run's books: books the last attempt's usage plus every failed attempt that had
     * streamed (the provider bills those), priced with the reservation's own prices; with nothing
     * billable, gives the whole hold back.
     */
    async settleRun(input: RecordedBookingInput<SettleRunInput>): Promise<SettleRunResult> {
      const bookingId = bookingIdOf(input);
      // Keyed by attempt: when the attempt's own worker recorded it too, the first record stands.
      if (input.unreportedAttempt) await ledger.recordFailedAttempt({ runId: bookingId, ...input.unreportedAttempt });
      const failed = await ledger.failedAttempts(bookingId);
      const chargedAttempts = failed.map(({ attempt, inputTokens, outputTokens, failure }) => ({
        attempt,
        inputTokens,
        outputTokens,
        failure,
      }));
      if (!input.usage && failed.length === 0) {
        const reservation = await ledger.getReservation(input.reservationId);
        if (reservation && reservation.state !== 'refused') await ledger.release(input.reservationId);
        return { costMicroUsd: 0, overage: false, chargedAttempts, released: true };
      }
      const actual = failed.reduce(
        (sum, a) => ({ inputTokens: sum.inputTokens + a.inputTokens, outputTokens: sum.outputTokens + a.outputTokens }),
        { inputTokens: input.usage?.inputTokens ?? 0, outputTokens: input.usage?.outputTokens ?? 0 },
      );
      const outcome = await ledger.settle({
        reservationId: input.reservationId,
        actual,
        overageReason:
          failed.length > 0
            ? `${failed.length} failed provider attempt(s) streamed tokens before the one that answered`
            : 'the provider reported more tokens than were reserved',
      });
      if (outcome.status !== 'settled') {
        // Released before (a settle after a release): the ledger already closed it as unused.
        throw ApplicationFailure.create({
          type: 'ReservationNotSettleable',
          message: `reservation ${input.reservationId} was already ${outcome.status}; its usage was not booked`,
          nonRetryable: true,
        });
      }
      return { costMicroUsd: outcome.costMicroUsd, overage: outcome.overage, chargedAttempts, released: false };
    },
  };
}

/** The hold's expiry, from this activity's own clock when the workflow gives a time to live. */
function holdExpiry(input: RecordedBookingInput<AdmitRunInput>): Date {
  if (input.holdTtlMs !== undefined) return new Date(Date.now() + input.holdTtlMs);
  if (input.expiresAt !== undefined) return new Date(input.expiresAt);
  throw ApplicationFailure.create({
    type: 'InvalidAdmission',
    message: `admission of ${bookingIdOf(input)} names neither holdTtlMs nor expiresAt`,
    nonRetryable: true,
  });
}

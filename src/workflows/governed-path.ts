/**
 * The governed path, written once: route → reserve budget → stream from the provider → settle.
 * The run workflow walks it for the run (booking id = run id, Temporal retrying the provider call)
 * and the background-task workflow for each attempt of a task (its own booking id, one provider
 * call per attempt), so a fix to how a call is charged is made here for both. Workflow code:
 * deterministic, no I/O.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { PalyraActivities } from '../activities';
import type { ChatMessage, SimulationOptions } from '../domain/chat';
import { reservationTtlMs } from '../domain/budget';
import { chosenRoute, type ChosenRoute, type RoutingDecision } from '../domain/routing';
import type { AdmitRunInput, InvokeProviderResult, PlanRunInput, RunAdmission, SettleRunResult } from '../temporal/contracts';
import { chargeForUnanswered, ledgerCallOptions, reservationExpiresAt, type UnansweredCharge } from './governed-steps';

/** One thing paid for through the governed path: a run, or one attempt of a background task. */
export interface Booking {
  /** The ledger key: the run id, or the task attempt's `bgtask-<taskId>:<dispatch>.<attempt>`. */
  bookingId: string;
  tenantId: string;
  principalId: string;
  messages: ChatMessage[];
  simulation?: SimulationOptions;
  timing: { providerTimeoutMs: number; heartbeatTimeoutMs: number };
  /** How Temporal retries one provider call (a task retries whole attempts itself: one try). */
  providerRetry: ActivityOptions['retry'];
  /** `patched(exactMoneyPatch)` in this workflow: the money-exactness behaviour applies. */
  exactMoney: boolean;
}

type RouteRequest = Omit<PlanRunInput, 'bookingId' | 'tenantId' | 'principalId' | 'messages'>;

/**
 * Asks routing which model the booking uses (the decision is recorded in the ledger database).
 * Returns the decision and the route, or why there is none. Not cancellable: a plan is cheap and
 * its record should be whole.
 */
export async function routeBooking(
  booking: Booking,
  request: RouteRequest,
  fallback: ChosenRoute,
  summary: string,
): Promise<{ decision: RoutingDecision; route: ChosenRoute | { unroutable: string } }> {
  const { planRun } = proxyLocalActivities<PalyraActivities>(ledgerCallOptions);
  const decision = await CancellationScope.nonCancellable(() =>
    planRun.executeWithOptions({ summary }, [
      {
        bookingId: booking.bookingId,
        tenantId: booking.tenantId,
        principalId: booking.principalId,
        messages: booking.messages,
        ...request,
      },
    ]),
  );
  const route = chosenRoute(decision, fallback, { refuseUncoveredDowngrade: booking.exactMoney });
  return { decision, route };
}

/**
 * Prices the prompt and reserves the upper estimate against every matching budget policy. Not
 * cancellable: a cancel arriving mid-reserve must not leave a hold nobody knows about; it takes
 * effect at the provider call, and the settlement releases the rest.
 */
export async function reserveBudget(
  booking: Booking,
  route: ChosenRoute,
  options: { summary: string; reservationId?: string; approvalOverride?: AdmitRunInput['approvalOverride'] },
): Promise<RunAdmission> {
  const { admitRun } = proxyLocalActivities<PalyraActivities>(ledgerCallOptions);
  const attempts = booking.providerRetry?.maximumAttempts ?? 1;
  // A hold lives from when it is made: one made after an approval wait must not be born expired.
  const holdLifetime = booking.exactMoney
    ? { holdTtlMs: reservationTtlMs(booking.timing.providerTimeoutMs, attempts) }
    : { expiresAt: reservationExpiresAt(Date.now(), booking.timing.providerTimeoutMs, attempts) };
  return CancellationScope.nonCancellable(() =>
    admitRun.executeWithOptions({ summary: options.summary }, [
      {
        bookingId: booking.bookingId,
        tenantId: booking.tenantId,
        principalId: booking.principalId,
        modelId: route.modelId,
        messages: booking.messages,
        maxOutputTokens: route.maxOutputTokens,
        ...holdLifetime,
        ...(options.reservationId ? { reservationId: options.reservationId } : {}),
        ...(options.approvalOverride ? { approvalOverride: options.approvalOverride } : {}),
      },
    ]),
  );
}

export type StreamOutcome = { ok: true; answer: InvokeProviderResult } | { ok: false; error: unknown; charge: UnansweredCharge };

/**
 * Calls the provider with what admission allowed. A call that ends without an answer (failed,
 * cancelled, timed out) comes back with what it still owes (`chargeForUnanswered`), for the settle.
 */
export async function streamFromProvider(
  booking: Booking,
  route: ChosenRoute,
  admission: RunAdmission,
  options: { summary: string; attempt?: number; legacyTimeouts: 'ignore' | 'usage' },
): Promise<StreamOutcome> {
  const { invokeProvider } = proxyActivities<PalyraActivities>({
    startToCloseTimeout: booking.timing.providerTimeoutMs,
    heartbeatTimeout: booking.timing.heartbeatTimeoutMs,
    retry: booking.providerRetry,
    // Wait for the stream to stop and say how far it got, so a cancelled call pays for what it used.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  try {
    const answer = await invokeProvider.executeWithOptions({ summary: options.summary }, [
      {
        bookingId: booking.bookingId,
        providerId: route.providerId,
        model: route.modelId,
        messages: booking.messages,
        maxOutputTokens: admission.maxOutputTokens,
        simulation: booking.simulation,
        stallTimeoutMs: booking.timing.heartbeatTimeoutMs,
        ...(options.attempt !== undefined ? { attempt: options.attempt } : {}),
        ...(booking.exactMoney ? { reservationId: admission.reservationId } : {}),
      },
    ]);
    return { ok: true, answer };
  } catch (error) {
    // The prompt was sent and some tokens may have come back: that much is owed. The provider
    // sends no usage for a stopped stream, so the figures are our own (marked estimated).
    const charge = chargeForUnanswered(error, admission.estimate.inputTokens, {
      exact: booking.exactMoney,
      legacyTimeouts: options.legacyTimeouts,
    });
    return { ok: false, error, charge };
  }
}

/**
 * Closes the booking's books: the last call's usage plus every failed attempt that streamed, or
 * the whole hold back when nothing was billed. Not cancellable: a cancelled run still settles.
 */
export async function settleBooking(
  booking: Booking,
  reservationId: string,
  charge: UnansweredCharge,
  summary: string,
): Promise<SettleRunResult> {
  const { settleRun } = proxyLocalActivities<PalyraActivities>(ledgerCallOptions);
  return CancellationScope.nonCancellable(() =>
    settleRun.executeWithOptions({ summary }, [
      {
        bookingId: booking.bookingId,
        reservationId,
        usage: charge.usage,
        ...(charge.unreportedAttempt ? { unreportedAttempt: charge.unreportedAttempt } : {}),
      },
    ]),
  );
}

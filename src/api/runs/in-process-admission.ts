import { ApplicationFailure } from '@temporalio/common';
import { reservationTtlMs, runProviderAttempts } from '../../domain/budget';
import { chosenRoute, type RoutingDecision } from '../../domain/routing';
import {
  failureTypes,
  type AdmitRunInput,
  type PlanRunInput,
  type RecordedBookingInput,
  type RunAdmission,
  type RunError,
  type RunWorkflowInput,
} from '../../temporal/contracts';

/** The calls of a run's admission, as the worker makes them: its `planRun` and `admitRun` activities. */
export interface AdmissionCalls {
  planRun(input: RecordedBookingInput<PlanRunInput>): Promise<RoutingDecision>;
  admitRun(input: RecordedBookingInput<AdmitRunInput>): Promise<RunAdmission>;
}

export type InProcessAdmission = ReturnType<typeof createInProcessAdmission>;

/** What admission reads of a run's input: known before the run starts, and again on a repeat. */
export type AdmissionInput = Pick<
  RunWorkflowInput,
  | 'runId'
  | 'tenantId'
  | 'principalId'
  | 'messages'
  | 'taskClass'
  | 'model'
  | 'maxOutputTokens'
  | 'requestedMaxOutputTokens'
  | 'jsonMode'
  | 'routingMode'
  | 'timing'
>;

/**
 * Admission decided in the API process, right after the run starts, so `POST /v1/runs` answers
 * after one workflow start and one ledger decision instead of waiting for a worker to pick the run
 * up (under load that wait was most of the answer's time). Nothing is decided twice: both calls
 * are keyed by the run id, so whichever of this process and the workflow's own first steps comes
 * first decides, and the other gets that very decision back (recorded once, booked once); the
 * run's history still shows both steps. For the same reason an idempotent repeat of the request
 * asks again to read the decision back, before any worker has shown it.
 *
 * Only where routing here sees the provider health the worker sees (`palyra dev`, one process):
 * a separate API process would route past breakers only the workers know to be open.
 */
export function createInProcessAdmission(calls: AdmissionCalls) {
  return {
    /**
     * The run's budget decision, taken with the same inputs as the workflow's first steps; or why
     * there can be none (no route, no price), which the workflow comes to as well and fails the
     * run for; or undefined when a call failed (the workflow retries it and decides).
     */
    async decide(input: AdmissionInput): Promise<{ admission: RunAdmission } | { refusal: RunError } | undefined> {
      const booking = { bookingId: input.runId, tenantId: input.tenantId, principalId: input.principalId };
      try {
        const decision = await calls.planRun({
          ...booking,
          messages: input.messages,
          taskClass: input.taskClass,
          model: input.model.requested,
          maxOutputTokens: input.requestedMaxOutputTokens ?? null,
          jsonMode: input.jsonMode ?? false,
          routingMode: input.routingMode ?? null,
        });
        const route = chosenRoute(
          decision,
          { modelId: input.model.selected, providerId: input.model.providerId, maxOutputTokens: input.maxOutputTokens },
          { refuseUncoveredDowngrade: true },
        );
        if ('unroutable' in route) return { refusal: { code: 'no_route', message: route.unroutable } };
        const admission = await calls.admitRun({
          ...booking,
          modelId: route.modelId,
          messages: input.messages,
          maxOutputTokens: route.maxOutputTokens,
          holdTtlMs: reservationTtlMs(input.timing.providerTimeoutMs, runProviderAttempts),
        });
        return { admission };
      } catch (error) {
        if (error instanceof ApplicationFailure && error.type === failureTypes.unknownPrice) {
          return { refusal: { code: 'unknown_price', message: error.message } };
        }
        return undefined;
      }
    },
  };
}

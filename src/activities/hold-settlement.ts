import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { PalyraConfig } from '../config';
import type { LedgerRepository } from '../ledger';
import {
  bookingIdOf,
  type InvokeProviderInput,
  type InvokeProviderResult,
  type ProviderHeartbeat,
  type RecordedBookingInput,
  type RunUsage,
} from '../temporal/contracts';
import { createLedgerActivities } from './ledger';

/** fetchHistory answers an unknown workflow with a plain gRPC NOT_FOUND, not WorkflowNotFoundError. */
const grpcNotFound = 5;
function grpcCodeOf(error: unknown): number | undefined {
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  if (typeof code === 'number') return code;
  return typeof cause?.code === 'number' ? cause.code : undefined;
}

export interface HoldSettlement {
  status: 'succeeded' | 'failed';
  detail: string;
}

/**
 * Closes holds whose workflow is gone (terminated from the Temporal UI, reset, lost): what the
 * supervisor's `release_reservation` and `terminate_and_settle` and `palyra doctor`'s
 * `release_orphaned_holds` share, so an orphan is settled one way whoever finds it.
 */
export function createHoldSettler({
  client,
  ledger,
  config,
}: {
  client: Client;
  ledger: LedgerRepository;
  config: PalyraConfig;
}) {
  const { settleRun } = createLedgerActivities({ ledger, config });

  /**
   * Closes a hold whose workflow is gone, charging what its history shows was consumed: the last
   * provider call of that booking that completed, plus the failed attempts the ledger recorded (and a
   * heartbeat read just before terminating, when there is one); with nothing billable, releases it.
   */
  async function settleFromHistory(
    reservationId: string,
    ownerWorkflowId: string,
    heartbeat?: ProviderHeartbeat,
  ): Promise<HoldSettlement> {
    const reservation = await ledger.getReservation(reservationId);
    if (!reservation) return { status: 'failed', detail: `reservation ${reservationId} does not exist` };
    if (reservation.state !== 'pending') {
      return { status: 'succeeded', detail: `reservation ${reservationId} was already ${reservation.state}` };
    }
    const bookingId = reservation.runId;
    const usage = await completedUsage(ownerWorkflowId, bookingId);
    const unreported =
      !usage && heartbeat && heartbeat.tokensSoFar > 0 && heartbeat.attempt !== undefined
        ? {
            attempt: heartbeat.attempt,
            inputTokens: heartbeat.inputTokens ?? 0,
            outputTokens: heartbeat.tokensSoFar,
            failure: 'terminated by an incident remediation while streaming',
          }
        : undefined;
    const result = await settleRun({ bookingId, reservationId, usage, ...(unreported ? { unreportedAttempt: unreported } : {}) });
    return {
      status: 'succeeded',
      detail: result.released
        ? `released reservation ${reservationId}: its history shows nothing consumed`
        : `settled reservation ${reservationId} at ${result.costMicroUsd} µUSD from its history and released the rest`,
    };
  }

  /** Usage of the last `invokeProvider` of `bookingId` that completed in the workflow's latest execution. */
  async function completedUsage(workflowId: string, bookingId: string): Promise<RunUsage | null> {
    let history;
    try {
      history = await client.workflow.getHandle(workflowId).fetchHistory();
    } catch (error) {
      // A workflow that never existed (or whose history is gone) consumed nothing we can show.
      if (error instanceof WorkflowNotFoundError || grpcCodeOf(error) === grpcNotFound) return null;
      throw error;
    }
    const providerCalls = new Set<string>();
    let usage: RunUsage | null = null;
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name === 'invokeProvider') {
        const payload = scheduled.input?.payloads?.[0];
        const input = payload
          ? (defaultPayloadConverter.fromPayload(payload) as RecordedBookingInput<InvokeProviderInput>)
          : undefined;
        if (input && bookingIdOf(input) === bookingId) providerCalls.add(String(event.eventId));
      }
      const completed = event.activityTaskCompletedEventAttributes;
      if (completed && providerCalls.has(String(completed.scheduledEventId))) {
        const payload = completed.result?.payloads?.[0];
        if (payload) usage = (defaultPayloadConverter.fromPayload(payload) as InvokeProviderResult).usage;
      }
    }
    return usage;
  }

  return { settleFromHistory };
}

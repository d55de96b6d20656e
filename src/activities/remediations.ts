import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import Long from 'long';
import type { Logger } from 'pino';
import type { PalyraConfig } from '../config';
import type { Finding, RemediationId } from '../domain/self-healing';
import type { LedgerRepository } from '../ledger';
import { runApprovalUpdate, runWorkflowId, type ProviderHeartbeat, type RemediationRequest } from '../temporal/contracts';
import { createHoldSettler } from './hold-settlement';

/** How long `open_provider_circuit` routes around a provider. */
export const providerCircuitOpenMs = 5 * 60_000;

export type RemediationOutcome = { status: 'succeeded' | 'failed'; detail: string };

export interface RemediationDeps {
  client: Client;
  ledger: LedgerRepository;
  config: PalyraConfig;
  logger?: Pick<Logger, 'error' | 'warn' | 'info'>;
}

/**
 * What each remediation does (docs/architecture.md, Self-healing, and the catalog in
 * src/domain/self-healing/remediations.ts). Each acts on the target of the finding just re-checked,
 * so it acts on what is true now (a stalled attempt's current attempt number, for instance).
 * A remediation that could not do its job throws or answers `failed` with the reason.
 */
export function createRemediations({ client, ledger, config, logger }: RemediationDeps) {
  const namespace = config.temporal.namespace;
  const { settleFromHistory } = createHoldSettler({ client, ledger, config });

  const actions: Record<RemediationId, (request: RemediationRequest, finding: Finding) => Promise<RemediationOutcome>> = {
    async fail_attempt(_request, finding) {
      const target = targetOf(finding, ['workflowId', 'temporalRunId', 'activityId', 'attempt']);
      // Failing by id fails the current attempt; Temporal retries it under the activity's retry policy.
      // The stalled worker learns on its next heartbeat and stops; its streamed tokens stay charged.
      await client.activity.fail(
        { workflowId: String(target.workflowId), runId: String(target.temporalRunId), activityId: String(target.activityId) },
        ApplicationFailure.retryable(`the supervisor failed a stalled attempt: ${finding.summary}`, 'StalledStream'),
      );
      return {
        status: 'succeeded',
        detail: `failed attempt ${target.attempt} of activity ${target.activityId} in ${target.workflowId}; Temporal retries it`,
      };
    },

    async open_provider_circuit(request, finding) {
      const { providerId } = targetOf(finding, ['providerId']);
      const { circuit, opened } = await ledger.openProviderCircuit({
        providerId: String(providerId),
        openUntil: new Date(Date.now() + providerCircuitOpenMs),
        reason: finding.summary,
        by: request.by,
        incidentId: request.incidentId,
      });
      return {
        status: 'succeeded',
        detail: `${opened ? 'opened' : 'kept open'} the circuit of provider ${providerId} until ${circuit.openUntil}`,
      };
    },

    async page(request, finding) {
      // No pager integration exists: the page is an error-level log line the on-call's alerting picks up.
      logger?.error(
        { incidentId: request.incidentId, detector: finding.detector, severity: finding.severity },
        `PAGE: ${finding.summary}`,
      );
      return { status: 'succeeded', detail: 'recorded and alerted: logged at error level for the on-call (nothing to auto-fix)' };
    },

    async reset_workflow(request, finding) {
      const target = targetOf(finding, ['workflowId', 'temporalRunId', 'eventId']);
      const response: { runId?: string | null } = await client.workflowService.resetWorkflowExecution({
        namespace,
        workflowExecution: { workflowId: String(target.workflowId), runId: String(target.temporalRunId) },
        workflowTaskFinishEventId: Long.fromNumber(Number(target.eventId)),
        // The slot's id: a repeated reset request is the same reset.
        requestId: request.slotId,
        reason: `palyra incident ${request.incidentId}: ${finding.summary}`,
      });
      return {
        status: 'succeeded',
        detail: `reset ${target.workflowId} to event ${target.eventId}; new execution ${response.runId}`,
      };
    },

    async release_reservation(_request, finding) {
      const target = targetOf(finding, ['reservationId', 'ownerWorkflowId']);
      return settleFromHistory(String(target.reservationId), String(target.ownerWorkflowId));
    },

    async deny_approval(request, finding) {
      const { workflowId } = targetOf(finding, ['workflowId']);
      try {
        await client.workflow.getHandle(String(workflowId)).executeUpdate(runApprovalUpdate, {
          args: [{ decision: 'deny', decidedBy: request.by, note: `incident ${request.incidentId}: ${finding.summary}` }],
        });
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
          const reason = error instanceof WorkflowUpdateFailedError ? (error.cause?.message ?? error.message) : error.message;
          return { status: 'failed', detail: `could not deny the approval of ${workflowId}: ${reason}` };
        }
        throw error;
      }
      return { status: 'succeeded', detail: `denied the pending approval of ${workflowId}` };
    },

    async cancel_run(_request, finding) {
      const { workflowId } = targetOf(finding, ['workflowId']);
      await client.workflow.getHandle(String(workflowId)).cancel();
      return { status: 'succeeded', detail: `requested cancellation of ${workflowId}; what it streamed is charged` };
    },

    async terminate_and_settle(request, finding) {
      const { workflowId } = targetOf(finding, ['workflowId']);
      const handle = client.workflow.getHandle(String(workflowId));
      // What the running provider attempt streamed is only in its heartbeat: read it before terminating.
      const description = await handle.describe();
      const streaming = (description.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'invokeProvider');
      const heartbeat = streaming?.heartbeatDetails?.payloads?.[0]
        ? (defaultPayloadConverter.fromPayload(streaming.heartbeatDetails.payloads[0]) as ProviderHeartbeat)
        : undefined;
      await handle.terminate(`palyra incident ${request.incidentId}: ${finding.summary}`);
      const holds = (await ledger.pendingReservationsForSupervisor({ limit: 1_000 })).filter((hold) =>
        bookingBelongsTo(hold.bookingId, String(workflowId)),
      );
      const settled: string[] = [];
      for (const hold of holds) {
        const outcome = await settleFromHistory(hold.reservationId, String(workflowId), heartbeat);
        settled.push(`${hold.reservationId}: ${outcome.detail}`);
      }
      return {
        status: 'succeeded',
        detail: `terminated ${workflowId}${settled.length > 0 ? `; ${settled.join('; ')}` : '; it held nothing'}`,
      };
    },

    async pause_tenant(request, finding) {
      const { tenantId } = targetOf(finding, ['tenantId']);
      const { pause, created } = await ledger.pauseTenant({
        tenantId: String(tenantId),
        reason: finding.summary,
        by: request.by,
        incidentId: request.incidentId,
      });
      return {
        status: 'succeeded',
        detail: created
          ? `paused tenant ${tenantId}: its new runs answer 503 until an SRE resumes it`
          : `tenant ${tenantId} was already paused by ${pause.pausedBy} at ${pause.pausedAt}`,
      };
    },
  };

  return {
    act(request: RemediationRequest, finding: Finding): Promise<RemediationOutcome> {
      return actions[request.remediation.id](request, finding);
    },
  };
}

/** The fresh finding's target, with the fields a remediation needs (a finding without them is a bug). */
function targetOf(finding: Finding, fields: string[]): Record<string, string | number> {
  const target = finding.remediation?.target ?? {};
  const missing = fields.filter((field) => target[field] === undefined);
  if (missing.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidRemediation',
      message: `the ${finding.detector} finding names no ${missing.join(', ')} to act on`,
      nonRetryable: true,
    });
  }
  return target;
}

/** A run books under its run id; a task's attempts under `<task workflow id>:<dispatch>.<attempt>`. */
function bookingBelongsTo(bookingId: string, workflowId: string): boolean {
  return workflowId === runWorkflowId(bookingId) || bookingId.startsWith(`${workflowId}:`);
}

import { randomUUID } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcDeadlineError,
  type Client,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { PalyraConfig } from '../../config';
import { errorCodes, PalyraError, type ErrorCode } from '../../domain/errors';
import { budgetRefusalError } from '../budgets/refusal';
import { temporalUiLink } from '../../temporal/client';
import {
  newRunDocument,
  runAdmissionUpdate,
  runMemoKey,
  runWorkflowId,
  runWorkflowType,
  searchAttributes,
  type RunAdmission,
  type RunDocument,
  type RunWorkflowInput,
} from '../../temporal/contracts';
import { assertTenantAccess, canAccessTenant, type Principal } from '../plugins/auth';
import type { RunView, StartRunBody, StartRunResponse } from './schemas';

/** Temporal calls behind an HTTP request give up after this, so clients get a 503 rather than a hang. */
const temporalCallDeadlineMs = 10_000;

export interface RunServiceDeps {
  client: Client;
  config: PalyraConfig;
  /** Base URL of the Temporal Web UI, for links. */
  temporalUiUrl: string | undefined;
  now?: () => Date;
}

export type RunService = ReturnType<typeof createRunService>;

export function createRunService({ client, config, temporalUiUrl, now = () => new Date() }: RunServiceDeps) {
  const namespace = config.temporal.namespace;
  const link = (workflowId: string, runId: string | null) => ({
    workflowId,
    runId,
    uiUrl: temporalUiLink(temporalUiUrl, namespace, workflowId, runId ?? undefined),
  });

  async function start(principal: Principal, body: StartRunBody): Promise<StartRunResponse> {
    assertTenantAccess(principal, body.tenantId);
    const modelId = body.model ?? config.routing.defaultModel;
    const model = config.models.find((m) => m.id === modelId);
    if (!model) {
      throw new PalyraError('unknown_model', `unknown model '${modelId}' in field model`, {
        field: 'body.model',
        knownModels: config.models.map((m) => m.id),
      });
    }
    const provider = config.providers.find((p) => p.id === model.provider);
    if (body.simulation && provider?.kind !== 'simulated') {
      throw new PalyraError('validation_failed', `body.simulation: model '${model.id}' is not served by a simulated provider`, {
        field: 'body.simulation',
      });
    }
    if (body.simulation && body.simulation.chunkDelayMs >= config.runs.heartbeatTimeoutMs) {
      throw new PalyraError(
        'validation_failed',
        `body.simulation.chunkDelayMs: ${body.simulation.chunkDelayMs} ms would look like a stalled stream; ` +
          `keep it below the heartbeat timeout of ${config.runs.heartbeatTimeoutMs} ms`,
        { field: 'body.simulation.chunkDelayMs' },
      );
    }
    if (body.maxOutputTokens !== undefined && body.maxOutputTokens > model.maxOutputTokens) {
      throw new PalyraError(
        'validation_failed',
        `body.maxOutputTokens: ${body.maxOutputTokens} exceeds the ${model.maxOutputTokens} output tokens model '${model.id}' allows`,
        { field: 'body.maxOutputTokens' },
      );
    }

    const runId = randomUUID();
    const input: RunWorkflowInput = {
      runId,
      tenantId: body.tenantId,
      principalId: body.principalId,
      createdAt: now().toISOString(),
      messages: body.messages,
      model: { requested: body.model ?? null, selected: model.id, providerId: model.provider },
      maxOutputTokens: body.maxOutputTokens ?? model.maxOutputTokens,
      simulation: body.simulation,
      timing: { heartbeatTimeoutMs: config.runs.heartbeatTimeoutMs, providerTimeoutMs: config.runs.providerTimeoutMs },
    };
    const workflowId = runWorkflowId(runId);
    const startOperation = new WithStartWorkflowOperation(runWorkflowType, {
      workflowId,
      workflowIdConflictPolicy: 'FAIL',
      taskQueue: config.temporal.taskQueue,
      args: [input],
      // The first memo makes the run readable at once, before any worker has picked it up.
      memo: { [runMemoKey]: newRunDocument(input) },
      staticSummary: `Run for ${body.tenantId}/${body.principalId} on ${model.id}`,
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: body.tenantId },
        { key: searchAttributes.principal, value: body.principalId },
        { key: searchAttributes.runState, value: 'queued' },
        { key: searchAttributes.model, value: model.id },
        { key: searchAttributes.costMicroUsd, value: 0 },
      ],
    });
    // Start and ask for the budget decision in one call, so the caller learns at once whether the
    // run was admitted (and why not) while the run itself goes on.
    let admission: RunAdmission | undefined;
    try {
      admission = await client.connection.withDeadline(Date.now() + config.runs.admissionWaitMs, () =>
        client.workflow.executeUpdateWithStart(runAdmissionUpdate, { startWorkflowOperation: startOperation }),
      );
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) throw notAdmittedError(runId, error);
      // No decision in time (no worker free): the run was started and goes on; say so and let
      // the caller follow it, rather than fail a run that exists (describe below proves it exists).
      if (!isGrpcDeadlineError(error)) throw error;
    }
    // An update-with-start handle does not expose the execution's run id; the link needs it.
    const { runId: executionRunId } = await withDeadline(() => client.workflow.getHandle(workflowId).describe());
    if (admission?.status === 'denied' && admission.refusal) {
      const refusal = budgetRefusalError(admission.refusal);
      throw new PalyraError(refusal.code, refusal.message, {
        ...refusal.details,
        runId,
        temporal: link(workflowId, executionRunId),
      });
    }
    return {
      runId,
      state: 'queued',
      model: { requested: input.model.requested, selected: model.id },
      maxOutputTokens: admission?.maxOutputTokens ?? input.maxOutputTokens,
      ...(admission ? { admission } : {}),
      temporal: link(workflowId, executionRunId),
    };
  }

  /**
   * Reads a run without needing a worker: the memo has the latest document, the result or failure
   * adds the output or error of a closed run. Another tenant's run is reported as not found.
   */
  async function get(principal: Principal, runId: string): Promise<RunView> {
    const workflowId = runWorkflowId(runId);
    const handle = client.workflow.getHandle(workflowId);
    const notFound = () => new PalyraError('not_found', `run ${runId} not found`);
    const description = await withDeadline(() => handle.describe()).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) throw notFound();
      throw error;
    });
    const memo = description.memo?.[runMemoKey] as RunDocument | undefined;
    if (!memo || !canAccessTenant(principal, memo.tenantId)) throw notFound();

    const document = await withDeadline(() => completeDocument(handle, memo, description.status.name));
    return { ...document, temporal: link(workflowId, description.runId) };
  }

  function withDeadline<T>(call: () => Promise<T>): Promise<T> {
    return client.connection.withDeadline(Date.now() + temporalCallDeadlineMs, call);
  }

  return { start, get };
}

/** A run that ended before its budget decision (e.g. a model with no price) as the API error it is. */
function notAdmittedError(runId: string, error: WorkflowUpdateFailedError): PalyraError {
  const cause = error.cause;
  const run = cause instanceof ApplicationFailure ? (cause.details?.[0] as RunDocument | undefined) : undefined;
  const code = run?.error?.code;
  const known = (errorCodes as readonly string[]).includes(code ?? '') ? (code as ErrorCode) : 'internal_error';
  const message = run?.error?.message ?? cause?.message ?? error.message;
  return new PalyraError(known, known === 'internal_error' ? `run ${runId} could not be admitted: ${message}` : message, {
    runId,
  });
}

async function completeDocument(
  handle: { result(): Promise<unknown> },
  memo: RunDocument,
  status: WorkflowExecutionStatusName,
): Promise<RunDocument> {
  switch (status) {
    case 'COMPLETED':
      return (await handle.result()) as RunDocument;
    case 'FAILED':
      try {
        await handle.result();
      } catch (error) {
        if (error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure && error.cause.details?.[0]) {
          return error.cause.details[0] as RunDocument;
        }
      }
      return { ...memo, state: 'failed', error: memo.error ?? { code: 'workflow_failed', message: 'the run workflow failed' } };
    case 'TERMINATED':
      return {
        ...memo,
        state: 'failed',
        error: { code: 'terminated', message: 'the run workflow was terminated by an operator' },
      };
    case 'TIMED_OUT':
      return { ...memo, state: 'failed', error: { code: 'timed_out', message: 'the run workflow timed out' } };
    case 'CANCELLED':
      return { ...memo, state: 'cancelled' };
    default:
      return memo;
  }
}

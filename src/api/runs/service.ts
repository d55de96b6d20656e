import { createHash, randomUUID } from 'node:crypto';
import {
  QueryNotRegisteredError,
  QueryRejectedError,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcDeadlineError,
  type Client,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { PalyraConfig } from '../../config';
import type { BudgetRefusal } from '../../domain/budget';
import { errorCodes, PalyraError, type ErrorCode } from '../../domain/errors';
import { isTerminalRunState } from '../../domain/run-state';
import { documentOfSummary, isRunSummary, newRunDocument, runSummaryOf } from '../../domain/runs';
import { budgetRefusalError } from '../budgets/refusal';
import { temporalUiLink } from '../../temporal/client';
import {
  backgroundTaskWorkflowId,
  runAdmissionUpdate,
  runApprovalUpdate,
  runMemoKey,
  runStateQuery,
  runWorkflowId,
  runWorkflowType,
  searchAttributes,
  type BackgroundTaskDocument,
  type RunAdmission,
  type RunDocument,
  type RunError,
  type RunSummary,
  type RunWorkflowInput,
} from '../../temporal/contracts';
import { assertPrincipalAccess, assertTenantAccess, canAccessTenant, type Principal } from '../plugins/auth';
import { createTaskFollower } from '../tasks/live';
import { resolveTaskSpecs } from '../tasks/specs';
import type { TenantPauses } from '../tenants/pauses';
import { temporalOverloadOf } from '../errors';
import { AdmissionQueueFullError, createAdmissionGate, type AdmissionGate } from './admission-gate';
import type { CursorCodec } from './cursor';
import { assertSameRequest, idempotentRunId, requestDigest, requestDigestMemoKey } from './idempotency';
import { resolveModelChoice } from './model-choice';
import type { ListRunsQuery, RunApprovalBody, RunList, RunView, StartRunBody, StartRunResponse } from './schemas';
import { createInProcessAdmission, type AdmissionCalls, type AdmissionInput } from './in-process-admission';
import { assertStartedDespite } from './start-check';
import { runListQuery } from './visibility-query';

/** Temporal calls behind an HTTP request give up after this, so clients get a 503 rather than a hang. */
const temporalCallDeadlineMs = 10_000;

export interface RunServiceDeps {
  client: Client;
  config: PalyraConfig;
  /** Base URL of the Temporal Web UI, for links. */
  temporalUiUrl: string | undefined;
  /** Refuses new runs of paused tenants (the `pause_tenant` remediation). */
  tenantPauses?: Pick<TenantPauses, 'assertNotPaused'>;
  /** Authenticates list cursors. */
  cursors: CursorCodec;
  /** Backpressure in front of admission; by default one of this service's own, from `runs` config. */
  admissionGate?: AdmissionGate;
  /**
   * The routing and ledger calls of admission, made here before the run starts (`palyra dev`,
   * where they share provider health with the worker); without them the workflow decides.
   */
  admissionCalls?: AdmissionCalls;
  now?: () => Date;
}

export type RunService = ReturnType<typeof createRunService>;

export function createRunService({
  client,
  config,
  temporalUiUrl,
  tenantPauses,
  cursors,
  admissionGate = createAdmissionGate({
    maxInFlight: config.runs.maxAdmissionsInFlight,
    maxInFlightPerTenant: config.runs.maxAdmissionsInFlightPerTenant,
    maxWaitMs: config.runs.admissionQueueMs,
  }),
  admissionCalls,
  now = () => new Date(),
}: RunServiceDeps) {
  const namespace = config.temporal.namespace;
  const link = (workflowId: string, runId: string | null) => ({
    workflowId,
    runId,
    uiUrl: temporalUiLink(temporalUiUrl, namespace, workflowId, runId ?? undefined),
  });
  const taskViews = (tasks: readonly BackgroundTaskDocument[]) =>
    tasks.map((task) => ({ ...task, temporal: link(backgroundTaskWorkflowId(task.taskId), null) }));
  /** The run document as the API shows it: with links to its workflow and its tasks' workflows. */
  const viewOf = (document: RunDocument, workflowId: string, executionRunId: string | null): RunView => ({
    ...document,
    backgroundTasks: taskViews(document.backgroundTasks),
    temporal: link(workflowId, executionRunId),
  });

  const inProcessAdmission = admissionCalls && createInProcessAdmission(admissionCalls);
  const followTask = createTaskFollower({ client, withDeadline: (call) => withDeadline(call), link });

  async function start(principal: Principal, body: StartRunBody): Promise<StartRunResponse> {
    assertTenantAccess(principal, body.tenantId);
    assertPrincipalAccess(principal, body.principalId);
    const { choice, modelMaxOutputTokens } = resolveModelChoice(config, body, 'body');

    // The same idempotency key from the same tenant names the same run: its id is derived from them.
    const digest = requestDigest(body);
    const runId = body.idempotencyKey ? idempotentRunId(body.tenantId, body.idempotencyKey) : randomUUID();
    // What admission reads of the run: the same for a repeat, which reads the recorded decision with it.
    const admissionInput: AdmissionInput = {
      runId,
      tenantId: body.tenantId,
      principalId: body.principalId,
      messages: body.messages,
      model: choice,
      maxOutputTokens: body.maxOutputTokens ?? modelMaxOutputTokens,
      requestedMaxOutputTokens: body.maxOutputTokens ?? null,
      taskClass: body.taskClass,
      routingMode: body.routingMode ?? null,
      jsonMode: body.jsonMode,
      timing: {
        heartbeatTimeoutMs: config.runs.heartbeatTimeoutMs,
        providerTimeoutMs: config.runs.providerTimeoutMs,
        approvalTimeoutMs: config.runs.approvalTimeoutMs,
      },
    };
    if (body.idempotencyKey) {
      const existing = await existingRun(principal, admissionInput, digest);
      if (existing) return existing;
    }
    // A paused tenant starts no new run; a repeat of one started before the pause still gets its answer.
    await tenantPauses?.assertNotPaused(body.tenantId);
    // After the idempotency lookup: a repeat of a request whose task deadlines have passed since
    // is still the same run.
    const createdAt = now();
    const backgroundTasks = resolveTaskSpecs(config, body.backgroundTasks ?? [], createdAt, 'body.backgroundTasks');
    const input: RunWorkflowInput = {
      ...admissionInput,
      createdAt: createdAt.toISOString(),
      simulation: body.simulation,
      backgroundTasks,
      taskPolicy: {
        maxConcurrentChildren: body.maxConcurrentChildren ?? config.tasks.maxConcurrentChildren,
        maxTasks: config.tasks.maxPerRun,
        detached: body.detachBackgroundTasks ?? config.tasks.detachByDefault,
        retry: { initialIntervalMs: config.tasks.retryInitialIntervalMs, maximumIntervalMs: config.tasks.retryMaximumIntervalMs },
        retryGraceMs: config.tasks.retryGraceMs,
        historyEventsBeforeContinueAsNew: config.tasks.historyEventsBeforeContinueAsNew,
      },
    };
    const workflowId = runWorkflowId(runId);
    const startOptions = {
      workflowId,
      workflowIdConflictPolicy: 'FAIL' as const,
      taskQueue: config.temporal.taskQueue,
      args: [input],
      // Fair dispatch per tenant on the shared task queue: a tenant's backlog no longer delays the
      // others' runs. The run's activities and task children inherit the key from this workflow.
      priority: { fairnessKey: tenantFairnessKey(body.tenantId) },
      // The first memo makes the run readable at once, before any worker has picked it up.
      memo: { [runMemoKey]: runSummaryOf(newRunDocument(input)), [requestDigestMemoKey]: digest },
      staticSummary:
        `Run for ${body.tenantId}/${body.principalId} on ${choice.selected}` +
        (backgroundTasks.length > 0 ? ` with ${backgroundTasks.length} background task(s)` : ''),
      typedSearchAttributes: [
        { key: searchAttributes.tenant, value: body.tenantId },
        { key: searchAttributes.principal, value: body.principalId },
        { key: searchAttributes.runState, value: 'queued' },
        { key: searchAttributes.model, value: choice.selected },
        { key: searchAttributes.taskClass, value: body.taskClass },
        { key: searchAttributes.costMicroUsd, value: 0 },
      ],
    };
    let admission: RunAdmission | undefined;
    let executionRunId: string | null | undefined;
    let startAccepted = false;
    const check = () => ({ client, runId, workflowId, digest, startAccepted });
    try {
      // Backpressure: a bounded number of admissions at once, the rest queued fairly per tenant.
      await admissionGate.run(body.tenantId, async () => {
        const deadline = Date.now() + config.runs.admissionWaitMs;
        if (inProcessAdmission) {
          // Started first, so a hold is only ever made for a run that exists: a run that could not
          // be started holds nothing, and no crash of this process can leave a hold without a run.
          const handle = await client.connection.withDeadline(deadline, () =>
            client.workflow.start(runWorkflowType, startOptions),
          );
          startAccepted = true;
          executionRunId = handle.firstExecutionRunId;
          const decided = await inProcessAdmission.decide(input);
          // The run fails for the same reason on its own (its steps get the recorded route, the same price).
          if (decided && 'refusal' in decided) throw runNotAdmittedError(runId, decided.refusal);
          // Where this process could not decide (the ledger failing), the run's own first steps do.
          admission = decided?.admission ?? (await workflowAdmission(principal, runId, handle.firstExecutionRunId, deadline));
          return;
        }
        // Start and ask the workflow for the budget decision in one call, so the caller learns at
        // once whether the run was admitted (and why not) while the run itself goes on.
        const startOperation = new WithStartWorkflowOperation(runWorkflowType, startOptions);
        // Settled before the call returns or throws: by the server's first answer, or by the error
        // that came instead (left pending only by a call refused before it was sent).
        void startOperation.workflowHandle().then(
          () => {
            startAccepted = true;
          },
          () => undefined,
        );
        admission = await client.connection.withDeadline(deadline, async () => {
          // Not executeUpdateWithStart, which gives only the update's result: this handle also names
          // the execution the update reached (the one this call started), which the answer links to.
          const update = await client.workflow.startUpdateWithStart(runAdmissionUpdate, {
            startWorkflowOperation: startOperation,
            waitForStage: 'ACCEPTED',
          });
          executionRunId = update.workflowRunId;
          return update.result();
        });
      });
    } catch (error) {
      if (error instanceof AdmissionQueueFullError) {
        // Refused before the call: nothing started, nothing held.
        throw new PalyraError(
          'overloaded',
          (error.bound.kind === 'tenant'
            ? `tenant ${body.tenantId} has its share of this API process's admissions in flight already ` +
              `(runs.maxAdmissionsInFlightPerTenant: ${error.bound.maxInFlightPerTenant})`
            : `this API process is admitting ${error.bound.maxInFlight} runs already (runs.maxAdmissionsInFlight)`) +
            ` and none freed up in ${error.waitedMs} ms; nothing was started, retry in ${error.retryAfterSeconds} s`,
          { runId, started: false, retryAfterSeconds: error.retryAfterSeconds },
        );
      }
      if (error instanceof WorkflowUpdateFailedError) throw notAdmittedError(runId, error);
      if (error instanceof WorkflowExecutionAlreadyStartedError && body.idempotencyKey) {
        // Another request with this key started it a moment ago.
        const existing = await existingRun(principal, input, digest);
        if (existing) return existing;
      }
      // No decision in time (no worker free, a loaded or unreachable server, the call cut by its
      // deadline or cancelled): a run that was started goes on, answered without its admission for
      // the caller to follow; one that was not is a 503 to retry. A fresh run id "already started"
      // was started by this very call: the SDK sends the start again while the server has not yet
      // accepted the update, which a loaded server can answer that way.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) await assertStartedDespite(error, check());
    }
    // Only a start whose answer was lost or cut short (an error above) leaves the execution's run id
    // unknown; the link needs it. The run exists by now, so a server too busy to describe it costs
    // only the link's run id, not the answer.
    if (executionRunId === undefined) {
      executionRunId = await withDeadline(() => client.workflow.getHandle(workflowId).describe()).then(
        (description) => description.runId,
        (error: unknown) => {
          if (temporalOverloadOf(error)) return null;
          throw error;
        },
      );
    }
    if (admission?.status === 'denied' && admission.refusal) {
      throw deniedRunError(admission.refusal, runId, link(workflowId, executionRunId));
    }
    return {
      runId,
      state: admission?.status === 'awaiting_approval' ? 'awaiting_approval' : 'queued',
      // Routing may have moved the run to another model before admitting it there.
      model: { requested: input.model.requested, selected: admission?.modelId ?? choice.selected },
      maxOutputTokens: admission?.maxOutputTokens ?? input.maxOutputTokens,
      ...(admission ? { admission } : {}),
      backgroundTasks: taskViews(newRunDocument(input).backgroundTasks),
      temporal: link(workflowId, executionRunId),
    };
  }

  /**
   * Reads a run: a memo written before run summaries has the whole document (the result or failure
   * adds the output or error of a closed run). A summary memo is completed from the run itself: an
   * open run answers its state query, a closed one its result or failure (or, terminated, timed out
   * or cancelled, a replay answers the query); with no worker to answer, the summary is shown with
   * no task list (`complete` false). Another tenant's run is reported as not found.
   */
  async function read(principal: Principal, runId: string): Promise<{ view: RunView; complete: boolean }> {
    const workflowId = runWorkflowId(runId);
    const handle = client.workflow.getHandle(workflowId);
    const notFound = () => new PalyraError('not_found', `run ${runId} not found`);
    const description = await withDeadline(() => handle.describe()).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) throw notFound();
      throw error;
    });
    const memo = description.memo?.[runMemoKey] as RunDocument | RunSummary | undefined;
    if (!memo || !canAccessTenant(principal, memo.tenantId)) throw notFound();

    const status = description.status.name;
    let document: RunDocument;
    let complete = true;
    if (!isRunSummary(memo)) document = await withDeadline(() => completeDocument(handle, memo, status));
    else if (status === 'COMPLETED' || status === 'FAILED') {
      document = await withDeadline(() => completeDocument(handle, documentOfSummary(memo), status));
    } else {
      const queried = await queryRun(handle);
      complete = queried !== undefined || memo.backgroundTaskCounts.total === 0;
      document = await completeDocument(handle, queried ?? documentOfSummary(memo), status);
    }
    const view = viewOf(document, workflowId, description.runId);
    return { view: { ...view, backgroundTasks: await Promise.all(view.backgroundTasks.map(followTask)) }, complete };
  }

  /**
   * The budget decision of a started run, from the run itself: its admission update, or, when the
   * run has already ended (it failed before any decision), its document.
   */
  async function workflowAdmission(principal: Principal, runId: string, executionRunId: string, deadline: number) {
    try {
      return await client.connection.withDeadline(deadline, () =>
        client.workflow.getHandle(runWorkflowId(runId), executionRunId).executeUpdate(runAdmissionUpdate),
      );
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      const ended = await get(principal, runId);
      if (ended.admission) return ended.admission;
      throw runNotAdmittedError(runId, ended.error);
    }
  }

  /** The run's own document from its state query; undefined when no worker answers in time. */
  async function queryRun(handle: { query: (query: typeof runStateQuery) => Promise<RunDocument> }) {
    return withDeadline(() => handle.query(runStateQuery)).catch((error: unknown) => {
      // No worker in time, none polling the task queue, or the query failed on the worker.
      if (isGrpcDeadlineError(error) || error instanceof ServiceError) return undefined;
      if (error instanceof QueryNotRegisteredError || error instanceof QueryRejectedError) return undefined;
      throw error;
    });
  }

  async function get(principal: Principal, runId: string): Promise<RunView> {
    return (await read(principal, runId)).view;
  }

  /**
   * The run an idempotency key already started, answered like a new start (the same run, nothing
   * booked again); 409 when the key was used with different parameters. Undefined if there is none.
   */
  async function existingRun(
    principal: Principal,
    admissionInput: AdmissionInput,
    digest: string,
  ): Promise<StartRunResponse | undefined> {
    const { runId } = admissionInput;
    const workflowId = runWorkflowId(runId);
    const description = await withDeadline(() => client.workflow.getHandle(workflowId).describe()).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    if (!description) return undefined;
    assertSameRequest(description.memo, digest, runId);
    const document = await get(principal, runId);
    // Until a worker picks the run up, neither its memo nor its (unanswered) query holds the
    // decision this process took when it started the run: that decision is read back instead.
    const recorded = document.state === 'queued' && !document.admission ? await recordedAdmission(admissionInput) : undefined;
    const admission = document.admission ?? recorded;
    if (admission?.status === 'denied' && admission.refusal) {
      throw deniedRunError(admission.refusal, runId, document.temporal);
    }
    return {
      runId,
      state: recorded?.status === 'awaiting_approval' ? 'awaiting_approval' : document.state,
      model: recorded ? { requested: document.model.requested, selected: recorded.modelId } : document.model,
      maxOutputTokens: admission?.maxOutputTokens ?? 0,
      ...(admission ? { admission } : {}),
      backgroundTasks: document.backgroundTasks,
      temporal: document.temporal,
    };
  }

  /**
   * The budget decision this process took when it started the run, asked for again: routing and
   * the ledger are keyed by the run id and answer a repeat with what they recorded, so nothing is
   * booked twice. (Had the first request taken none, its ledger failing or its start's answer lost,
   * this takes the run's one decision, which the workflow's own first steps then get back.)
   * Undefined where the workflow decides admission or the ledger does not answer; a decision that
   * there can be none (no route, no price) is the error the first answer was.
   */
  async function recordedAdmission(admissionInput: AdmissionInput): Promise<RunAdmission | undefined> {
    if (!inProcessAdmission) return undefined;
    const decided = await inProcessAdmission.decide(admissionInput);
    if (decided && 'refusal' in decided) throw runNotAdmittedError(admissionInput.runId, decided.refusal);
    return decided?.admission;
  }

  /**
   * Lists runs through Temporal visibility (newest first), filtered by the search attributes the
   * workflow keeps current. A token scoped to some tenants only ever sees theirs.
   */
  async function list(principal: Principal, filter: ListRunsQuery): Promise<RunList> {
    if (filter.tenantId) assertTenantAccess(principal, filter.tenantId);
    const query = runListQuery(filter, principal.tenants);
    const page = await withDeadline(() =>
      client.workflowService.listWorkflowExecutions({
        namespace,
        query,
        pageSize: filter.limit,
        nextPageToken: filter.cursor ? cursors.decode(filter.cursor, query) : undefined,
      }),
    );
    const items = (page.executions ?? []).flatMap((execution) => {
      const payload = execution.memo?.fields?.[runMemoKey];
      const memo = payload ? (defaultPayloadConverter.fromPayload(payload) as RunDocument | RunSummary) : undefined;
      if (!memo) return [];
      // A page of runs holds summaries only, whichever memo they wrote: GET the run for its tasks.
      const summary = isRunSummary(memo) ? memo : runSummaryOf(memo);
      const workflowId = execution.execution?.workflowId ?? runWorkflowId(summary.runId);
      return [
        {
          ...viewOf(documentOfSummary(summary), workflowId, execution.execution?.runId ?? null),
          backgroundTaskCounts: summary.backgroundTaskCounts,
        },
      ];
    });
    const more = page.nextPageToken && page.nextPageToken.length > 0;
    return { items, nextCursor: more ? cursors.encode(page.nextPageToken as Uint8Array, query) : null };
  }

  /**
   * An operator's decision on a run parked by an `approval_required` budget. The workflow refuses
   * it (409, naming the state) unless that very run is awaiting approval.
   */
  async function decideApproval(principal: Principal, runId: string, body: RunApprovalBody): Promise<RunView> {
    const current = await get(principal, runId); // 404 for a run this token cannot see
    if (current.state !== 'awaiting_approval') {
      throw new PalyraError(
        'conflict',
        `run ${runId} is ${current.state}; only a run awaiting approval can be approved or denied`,
        {
          runId,
          state: current.state,
        },
      );
    }
    const handle = client.workflow.getHandle(runWorkflowId(runId));
    const document = await withDeadline(() =>
      handle.executeUpdate(runApprovalUpdate, {
        args: [{ decision: body.decision, decidedBy: principal.tokenName, ...(body.note ? { note: body.note } : {}) }],
      }),
    ).catch((error: unknown) => {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new PalyraError('conflict', error.cause?.message ?? error.message, { runId });
      }
      throw error;
    });
    return viewOf(document, current.temporal.workflowId, current.temporal.runId);
  }

  /** Asks the run to stop; the workflow settles what was consumed and releases the rest. */
  async function cancel(principal: Principal, runId: string): Promise<RunView> {
    const document = await get(principal, runId);
    if (isTerminalRunState(document.state)) {
      throw new PalyraError('conflict', `run ${runId} is already ${document.state}; there is nothing to cancel`, {
        state: document.state,
      });
    }
    await withDeadline(() => client.workflow.getHandle(runWorkflowId(runId)).cancel());
    return document;
  }

  function withDeadline<T>(call: () => Promise<T>): Promise<T> {
    return client.connection.withDeadline(Date.now() + temporalCallDeadlineMs, call);
  }

  return { start, get, read, cancel, list, decideApproval, withDeadline, link };
}

/** Temporal's limit on a fairness key; tenant ids may be longer (up to 128 characters). */
const maxFairnessKeyBytes = 64;

/**
 * The run's fairness key: the tenant id itself, or, for an id longer than Temporal allows, its
 * first characters and a digest of the whole, so two long ids that share a prefix stay apart.
 */
export function tenantFairnessKey(tenantId: string): string {
  if (Buffer.byteLength(tenantId) <= maxFairnessKeyBytes) return tenantId;
  const digest = createHash('sha256').update(tenantId).digest('hex').slice(0, 24);
  return `${tenantId.slice(0, maxFairnessKeyBytes - digest.length - 1)}~${digest}`;
}

/** A run a budget refused: the 402 of the budgets API, plus the run it concerns. */
function deniedRunError(refusal: BudgetRefusal, runId: string, temporal: RunView['temporal']): PalyraError {
  const error = budgetRefusalError(refusal);
  return new PalyraError(error.code, error.message, { ...error.details, runId, temporal });
}

/** A run that ended before its budget decision (e.g. a model with no price), from the workflow's refusal of the update. */
function notAdmittedError(runId: string, error: WorkflowUpdateFailedError): PalyraError {
  const cause = error.cause;
  const run = cause instanceof ApplicationFailure ? (cause.details?.[0] as RunDocument | undefined) : undefined;
  return runNotAdmittedError(runId, run?.error, cause?.message ?? error.message);
}

/** Why a run could not be admitted, as the API error it is: its own code where the API knows it. */
function runNotAdmittedError(runId: string, reason: RunError | undefined, fallbackMessage = 'no budget decision'): PalyraError {
  const code = reason?.code;
  const known = (errorCodes as readonly string[]).includes(code ?? '') ? (code as ErrorCode) : 'internal_error';
  const message = reason?.message ?? fallbackMessage;
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

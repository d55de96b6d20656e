import { CancellationScope, isCancellation, patched, setCurrentDetails, sleep, upsertMemo } from '@temporalio/workflow';
import { isAuxiliaryTaskClass } from '../domain/routing';
import { retryDelayMs } from '../domain/tasks';
import {
  taskAttemptBookingId,
  taskMemoKey,
  type BackgroundTaskOutcome,
  type BackgroundTaskProgress,
  type BackgroundTaskWorkflowInput,
  type RunError,
} from '../temporal/contracts';
import { reserveBudget, routeBooking, settleBooking, streamFromProvider, type Booking } from './governed-path';
import { describeFailure, exactMoneyPatch, isRetryableFailure, type UnansweredCharge } from './governed-steps';

/**
 * One dispatch of a background task, as the child workflow `bgtask-<taskId>`: attempts of the
 * governed path (route → admit → stream → settle), each with its own reservation, retried with
 * backoff up to `maxAttempts`. The child enforces its own `expiresAt` and `timeoutMs`, so a task
 * stops at its deadline even when its run has completed and left it detached. It completes with
 * its outcome whatever the state, so the parent always learns the cost.
 */
export async function backgroundTaskWorkflow(input: BackgroundTaskWorkflowInput): Promise<BackgroundTaskOutcome> {
  // Before any command, so the patch marker has the same place in every history that has it.
  const exactMoney = patched(exactMoneyPatch);
  const progress: BackgroundTaskProgress = { state: 'running', attempt: 0, costMicroUsd: 0, modelId: input.model.selected };
  publish(input, progress);

  const deadline = deadlineOf(input, Date.now());
  const work = new CancellationScope();
  const deadlineScope = new CancellationScope();
  let deadlinePassed = false;
  if (deadline) {
    deadlineScope
      .run(() => sleep(Math.max(1, deadline.atMs - Date.now())))
      .then(
        () => {
          deadlinePassed = true;
          work.cancel();
        },
        () => undefined, // the work ended first
      );
  }

  let outcome: BackgroundTaskOutcome;
  try {
    outcome = await work.run(() => attemptUntilDone(input, progress, exactMoney));
  } catch (error) {
    // Stopped from outside or by its deadline; or a step that failed for good (a settlement the
    // ledger refused): either way the outcome carries what the task has paid so far.
    outcome = isCancellation(error)
      ? stoppedOutcome(progress, deadlinePassed ? deadline : undefined)
      : {
          state: 'failed',
          attempt: progress.attempt,
          costMicroUsd: progress.costMicroUsd,
          modelId: progress.modelId,
          error: describeFailure(error),
        };
  } finally {
    deadlineScope.cancel();
  }
  progress.state = outcome.state;
  publish(input, progress, outcome.error);
  return outcome;
}

/** Attempts until one succeeds, one fails for good, or attempts run out. */
async function attemptUntilDone(
  input: BackgroundTaskWorkflowInput,
  progress: BackgroundTaskProgress,
  exactMoney: boolean,
): Promise<BackgroundTaskOutcome> {
  let lastError: RunError = { code: 'internal_error', message: 'no attempt was made' };
  for (let attempt = 1; attempt <= input.maxAttempts; attempt++) {
    progress.attempt = attempt;
    publish(input, progress);
    const result = await governedAttempt(input, attempt, progress, exactMoney);
    if (result.ok) {
      return {
        state: 'succeeded',
        attempt,
        costMicroUsd: progress.costMicroUsd,
        modelId: progress.modelId,
        output: result.output,
      };
    }
    lastError = result.error;
    if (!result.retryable) break;
    if (attempt < input.maxAttempts) await sleep(retryDelayMs(attempt, retryTimingOf(input)));
  }
  return {
    state: 'failed',
    attempt: progress.attempt,
    costMicroUsd: progress.costMicroUsd,
    modelId: progress.modelId,
    error: lastError,
  };
}

type AttemptResult = { ok: true; output: string } | { ok: false; error: RunError; retryable: boolean };

/**
 * One attempt: its own routing decision and reservation (keyed by dispatch and attempt), one
 * provider call, and a settlement that books what the call consumed, even when it was cancelled.
 */
async function governedAttempt(
  input: BackgroundTaskWorkflowInput,
  attempt: number,
  progress: BackgroundTaskProgress,
  exactMoney: boolean,
): Promise<AttemptResult> {
  const booking: Booking = {
    bookingId: taskAttemptBookingId(input.taskId, input.dispatch, attempt),
    tenantId: input.tenantId,
    principalId: input.principalId,
    messages: input.messages,
    simulation: input.simulation,
    timing: input.timing,
    // The task retries whole attempts itself (each with its own reservation), so one provider
    // call is one attempt.
    providerRetry: { maximumAttempts: 1 },
    exactMoney,
  };

  const { route } = await routeBooking(
    booking,
    {
      taskClass: input.taskClass,
      model: input.model.requested,
      maxOutputTokens: input.outputCapped ? input.maxOutputTokens : null,
      jsonMode: input.jsonMode,
      // Side work takes routing's choice, which is never dearer than the default model, even
      // when the task named a model; a delegated run follows the configured mode, like a run.
      routingMode: isAuxiliaryTaskClass(input.taskClass) ? 'enforced' : null,
    },
    { modelId: input.model.selected, providerId: input.model.providerId, maxOutputTokens: input.maxOutputTokens },
    `route ${input.kind} task attempt ${attempt} (${input.taskClass})`,
  );
  if ('unroutable' in route) return { ok: false, error: { code: 'no_route', message: route.unroutable }, retryable: false };
  progress.modelId = route.modelId;

  let admission;
  try {
    admission = await reserveBudget(booking, route, {
      summary: `reserve budget for up to ${route.maxOutputTokens} output tokens of ${route.modelId}`,
      reservationId: booking.bookingId,
    });
  } catch (error) {
    return { ok: false, error: describeFailure(error), retryable: isRetryableFailure(error) };
  }
  if (admission.status !== 'admitted') {
    // Background work does not wait for an operator: an approval_required refusal is a refusal.
    const waitsForApproval = admission.status === 'awaiting_approval' ? ' (background tasks do not wait for approval)' : '';
    return {
      ok: false,
      error: {
        code: 'budget_exceeded',
        message: `${admission.refusal?.message ?? 'refused by a budget policy'}${waitsForApproval}`,
      },
      retryable: false,
    };
  }

  const streamed = await streamFromProvider(booking, route, admission, {
    summary: `stream ${admission.maxOutputTokens} max tokens from ${route.modelId} (${route.providerId})`,
    attempt,
    legacyTimeouts: 'usage',
  });
  const charge: UnansweredCharge = streamed.ok ? { usage: streamed.answer.usage } : streamed.charge;
  const settled = await settleBooking(
    booking,
    admission.reservationId,
    charge,
    charge.usage || charge.unreportedAttempt
      ? `settle ${admission.reservationId}`
      : `release ${admission.reservationId}: nothing billed`,
  );
  progress.costMicroUsd += settled.costMicroUsd;
  if (streamed.ok) return { ok: true, output: streamed.answer.output };
  // Stopped from outside or by the task's deadline: the stop goes on up, now that it is paid for.
  if (isCancellation(streamed.error)) throw streamed.error;
  return { ok: false, error: describeFailure(streamed.error), retryable: isRetryableFailure(streamed.error) };
}

interface TaskDeadline {
  atMs: number;
  reason: 'expired' | 'timeout';
}

/** The earlier of the task's `expiresAt` and its start plus `timeoutMs`. */
function deadlineOf(input: BackgroundTaskWorkflowInput, startedAtMs: number): TaskDeadline | undefined {
  const candidates: TaskDeadline[] = [];
  if (input.expiresAt) candidates.push({ atMs: Date.parse(input.expiresAt), reason: 'expired' });
  if (input.timeoutMs !== undefined) candidates.push({ atMs: startedAtMs + input.timeoutMs, reason: 'timeout' });
  return candidates.sort((a, b) => a.atMs - b.atMs)[0];
}

/** The outcome of work stopped from outside (the run or an operator) or by the task's own deadline. */
function stoppedOutcome(progress: BackgroundTaskProgress, deadline: TaskDeadline | undefined): BackgroundTaskOutcome {
  const spent = { attempt: progress.attempt, costMicroUsd: progress.costMicroUsd, modelId: progress.modelId };
  if (deadline?.reason === 'expired') {
    return {
      state: 'expired',
      ...spent,
      error: { code: 'task_expired', message: `the task was still running at its expiresAt and was stopped` },
    };
  }
  if (deadline?.reason === 'timeout') {
    return {
      state: 'failed',
      ...spent,
      error: { code: 'child_timeout', message: `the task ran past its timeoutMs and was stopped` },
    };
  }
  return { state: 'cancelled', ...spent };
}

function retryTimingOf(input: BackgroundTaskWorkflowInput) {
  return { initialMs: input.timing.retry.initialIntervalMs, maximumMs: input.timing.retry.maximumIntervalMs };
}

/** The task's progress in its memo (the API reads it while the task runs) and in the Temporal UI. */
function publish(input: BackgroundTaskWorkflowInput, progress: BackgroundTaskProgress, error?: RunError): void {
  upsertMemo({ [taskMemoKey]: progress });
  setCurrentDetails(
    `**${progress.state}** ${input.kind} task of run \`${input.runId}\`, attempt ${progress.attempt}/${input.maxAttempts} ` +
      `on \`${progress.modelId}\`, cost ${progress.costMicroUsd} µUSD` +
      (error ? `\n\n${error.code}: ${error.message}` : ''),
  );
}

import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  setHandler,
} from '@temporalio/workflow';
import { assertRunTransition, isTerminalRunState, type RunState } from '../domain/run-state';
import { newRunDocument } from '../domain/runs';
import {
  runAddTasksUpdate,
  runAdmissionUpdate,
  runApprovalUpdate,
  runStateQuery,
  taskControlUpdate,
  type AdmitRunInput,
  type RunAdmission,
  type RunApprovalDecision,
  type RunDocument,
  type RunError,
  type RunWorkflowInput,
} from '../temporal/contracts';
import { reserveBudget, routeBooking, settleBooking, streamFromProvider, type Booking } from './governed-path';
import { describeFailure, exactMoneyPatch, providerRetry, type UnansweredCharge } from './governed-steps';
import { continueRunAsNew, runContinueAsNewPatch, runHistoryBound } from './run-continuation';
import { createRunPublisher, runSummaryMemoPatch, type RunPublisher } from './run-publisher';
import { createTaskScheduler, type TaskScheduler } from './task-scheduler';

/**
 * One governed run: plan the route → estimate and admit against the budgets → call the provider →
 * settle → finish. Every decision lands in the history (activity summaries) and the run document.
 */
export async function runWorkflow(input: RunWorkflowInput): Promise<RunDocument> {
  // A continued run resumes from the document its previous execution handed over.
  const run = input.continued?.document ?? newRunDocument(input);
  // Before any command, so the patch marker has the same place in every history that has it.
  const exactMoney = patched(exactMoneyPatch);
  const publisher = createRunPublisher(run, patched(runSummaryMemoPatch));
  const historyBound = runHistoryBound(patched(runContinueAsNewPatch), input.taskPolicy);
  setHandler(runStateQuery, () => run);
  setHandler(runAdmissionUpdate, async () => {
    await condition(() => run.admission !== undefined || isTerminalRunState(run.state));
    if (run.admission) return run.admission;
    throw ApplicationFailure.create({
      type: 'RunNotAdmitted',
      message: run.error?.message ?? `the run ended ${run.state} before its budget decision`,
      details: [run],
      nonRetryable: true,
    });
  });
  setHandler(
    runApprovalUpdate,
    (decision) => {
      run.approval = { ...decision, decidedAt: new Date().toISOString() };
      publisher.publish();
      return run;
    },
    {
      validator: (_decision: RunApprovalDecision) => {
        if (run.state !== 'awaiting_approval' || run.approval) {
          throw new Error(`run ${run.runId} is ${run.state}; only a run awaiting approval can be approved or denied`);
        }
      },
    },
  );
  const tasks = createTaskScheduler(
    run,
    input,
    () => publisher.publish(),
    () => publisher.flush(),
  );
  publisher.deferWhile(() => tasks.passPending());
  setHandler(runAddTasksUpdate, (request) => tasks.add(request), {
    validator: (request) => {
      const refusal = historyBound.refusal(run.runId) ?? tasks.addRefusal(request);
      if (refusal) throw new Error(refusal);
    },
  });
  setHandler(taskControlUpdate, (request) => tasks.control(request), {
    validator: (request) => {
      // Cancelling ends work, so it stays possible whatever the history's length.
      const refusal =
        (request.action === 'cancel' ? undefined : historyBound.refusal(run.runId)) ?? tasks.controlRefusal(request);
      if (refusal) throw new Error(refusal);
    },
  });
  // The scheduler runs beside the run's own steps; it cancels children itself, never by scope:
  // at once when the run is cancelled (not after the run's own step has wound down), so no queued
  // task starts in between.
  const taskLoop = CancellationScope.nonCancellable(() => tasks.run());
  CancellationScope.current().cancelRequested.catch(() => {
    tasks.close();
    tasks.cancelAll(parentEnded('cancelled'));
  });
  publisher.publish();
  const finish = async (state: RunState, error?: unknown): Promise<RunDocument> => {
    if (run.backgroundTasks.length === 0) {
      // Nothing to wait for: finish in this very step, as runs did before tasks existed (their
      // histories replay), and take no tasks from here on.
      tasks.close();
      tasks.stop();
      return finishRun(run, publisher, state, error);
    }
    return finishRun(run, publisher, await settleBackgroundTasks(tasks, taskLoop, state, continueIfFull), error);
  };
  /**
   * Called while the run only waits on its tasks' retries, with every task ended: a history grown
   * long hands over to a new execution, which resumes that wait with the same document.
   */
  const continueIfFull = async (): Promise<void> => {
    if (!historyBound.full() || !allHandlersFinished()) return;
    publisher.flush();
    await continueRunAsNew(input, run, tasks.specsInOrder());
  };
  if (input.continued) {
    // The run's own work was done and booked by an earlier execution: only its tasks remain.
    tasks.openDispatch();
    return finish('succeeded');
  }

  const booking: Booking = {
    bookingId: input.runId,
    tenantId: input.tenantId,
    principalId: input.principalId,
    messages: input.messages,
    simulation: input.simulation,
    timing: input.timing,
    providerRetry,
    exactMoney,
  };

  let routed: Awaited<ReturnType<typeof routeBooking>>;
  try {
    routed = await routeBooking(
      booking,
      {
        taskClass: input.taskClass,
        model: input.model.requested,
        maxOutputTokens: input.requestedMaxOutputTokens ?? null,
        jsonMode: input.jsonMode ?? false,
        routingMode: input.routingMode ?? null,
      },
      { modelId: input.model.selected, providerId: input.model.providerId, maxOutputTokens: input.maxOutputTokens },
      `route the ${input.taskClass} run (requested ${input.model.requested ?? 'default'})`,
    );
  } catch (error) {
    return finish(isCancellation(error) ? 'cancelled' : 'failed', error);
  }
  run.routing = routed.decision;
  if ('unroutable' in routed.route) {
    run.error = { code: 'no_route', message: routed.route.unroutable };
    return finish('failed');
  }
  const route = routed.route;
  run.model = { requested: input.model.requested, selected: route.modelId };
  publisher.publish();

  const admit = (approvalOverride?: AdmitRunInput['approvalOverride']) =>
    reserveBudget(booking, route, {
      summary:
        `reserve budget for up to ${route.maxOutputTokens} output tokens of ${route.modelId}` +
        (approvalOverride ? `, approved by ${approvalOverride.approvedBy}` : ''),
      ...(approvalOverride ? { approvalOverride } : {}),
    });

  let admission: RunAdmission;
  try {
    admission = run.admission = await admit();
    if (admission.status === 'awaiting_approval') {
      // Parked durably: survives worker restarts; an operator decides through the approval update.
      moveTo(run, 'awaiting_approval');
      publisher.publish();
      const decided = await condition(() => run.approval !== undefined, input.timing.approvalTimeoutMs);
      const approval = run.approval;
      if (!decided || !approval) {
        run.error = {
          code: 'approval_timeout',
          message: `nobody approved the budget override within ${input.timing.approvalTimeoutMs} ms`,
        };
        return finish('denied');
      }
      if (approval.decision === 'deny') {
        run.error = {
          code: 'approval_denied',
          message: `the budget override was denied by ${approval.decidedBy}${approval.note ? `: ${approval.note}` : ''}`,
        };
        return finish('denied');
      }
      admission = run.admission = await admit({
        approvalId: input.runId,
        approvedBy: approval.decidedBy,
        ...(approval.note ? { note: approval.note } : {}),
      });
    }
  } catch (error) {
    return finish(isCancellation(error) ? 'cancelled' : 'failed', error);
  }
  if (admission.status !== 'admitted') {
    run.error = { code: 'budget_exceeded', message: admission.refusal?.message ?? 'refused by a budget policy' };
    return finish('denied');
  }

  moveTo(run, 'running');
  run.startedAt = new Date().toISOString();
  publisher.publish();
  tasks.openDispatch();
  let outcome: { state: RunState; error?: unknown };
  const streamed = await streamFromProvider(booking, route, admission, {
    summary:
      `stream ${admission.maxOutputTokens} max tokens from ${route.modelId} (${route.providerId})` +
      (admission.clamped ? `, clamped from ${route.maxOutputTokens} to fit the budget` : ''),
    legacyTimeouts: 'ignore',
  });
  let charge: UnansweredCharge;
  if (streamed.ok) {
    run.output = streamed.answer.output;
    run.usage = streamed.answer.usage;
    outcome = { state: 'succeeded' };
    charge = { usage: streamed.answer.usage };
  } else {
    outcome = { state: isCancellation(streamed.error) ? 'cancelled' : 'failed', error: streamed.error };
    charge = streamed.charge;
    if (charge.usage) run.usage = charge.usage;
  }

  // The books are closed even when the run was cancelled: nothing of this may be cancelled again.
  try {
    const { reservationId } = admission;
    const settled = await settleBooking(
      booking,
      reservationId,
      charge,
      charge.usage
        ? `settle ${reservationId} at the provider's usage`
        : `close ${reservationId}: nothing billed by the last attempt`,
    );
    run.costMicroUsd = settled.costMicroUsd;
    if (settled.chargedAttempts.length > 0) run.chargedAttempts = settled.chargedAttempts;
  } catch (error) {
    outcome = { state: 'failed', error };
  }
  return finish(outcome.state, outcome.error);
}

/**
 * Before the run ends, its tasks end: a run that did not succeed cancels every task still going;
 * a successful one waits for them (or, detached, until every task has started), and stays open
 * for `retryGraceMs` while a task that did not succeed could be retried by an operator. A
 * cancellation arriving during that wait reaches the tasks and ends the run `cancelled`. Returns
 * the run's final state.
 */
async function settleBackgroundTasks(
  tasks: TaskScheduler,
  taskLoop: Promise<void>,
  state: RunState,
  continueIfFull: () => Promise<void>,
): Promise<RunState> {
  let finalState = state;
  if (state !== 'succeeded') tasks.cancelAll(parentEnded(state));
  else {
    try {
      // Still running: tasks added meanwhile are taken and waited for too.
      await waitForTasks(tasks, continueIfFull);
    } catch (error) {
      if (!isCancellation(error)) throw error;
      tasks.cancelAll(parentEnded('cancelled'));
      finalState = 'cancelled';
    }
  }
  // In the same workflow task as the last check above, so no task can slip in unawaited.
  tasks.close();
  // Whatever happens to the run now, its children's outcomes are recorded before it completes.
  await CancellationScope.nonCancellable(async () => {
    await condition(tasks.settled);
    tasks.stop();
    await taskLoop;
  });
  return finalState;
}

async function waitForTasks(tasks: TaskScheduler, continueIfFull: () => Promise<void>): Promise<void> {
  for (;;) {
    await condition(tasks.settled);
    if (!tasks.anyRetryable() || tasks.retryGraceMs <= 0) return;
    // From here on only operator retries grow the history; each one comes back here.
    await continueIfFull();
    // An operator retry makes the tasks unsettled again; without one the grace runs out.
    const retried = await condition(() => !tasks.settled(), tasks.retryGraceMs);
    if (!retried) return;
  }
}

function parentEnded(state: RunState): RunError {
  return state === 'cancelled'
    ? { code: 'parent_cancelled', message: 'the run was cancelled' }
    : { code: 'parent_ended', message: `the run ended ${state} before the task finished` };
}

/** Ends the run: records the final state (and the failure), publishes it and waits for open updates. */
async function finishRun(run: RunDocument, publisher: RunPublisher, state: RunState, error?: unknown): Promise<RunDocument> {
  if (state === 'failed' && error !== undefined) run.error = describeFailure(error);
  moveTo(run, state);
  run.finishedAt = new Date().toISOString();
  publisher.publish();
  publisher.flush();
  // Open updates get their answer first; a cancelled run must still get here, hence non-cancellable.
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  if (run.state === 'cancelled' && CancellationScope.current().consideredCancelled) {
    // Cancelled from outside: end as a cancelled workflow, so the Temporal UI says so too (the
    // document is in the memo and in this failure).
    throw new CancelledFailure('run cancelled', [run]);
  }

  if (run.state === 'failed') {
    // A failed run is a failed workflow, so it stands out in the Temporal UI; the document rides along.
    throw ApplicationFailure.create({
      type: 'RunFailed',
      message: run.error?.message ?? 'run failed',
      details: [run],
      nonRetryable: true,
    });
  }
  return run;
}

function moveTo(run: RunDocument, state: RunState): void {
  assertRunTransition(run.state, state);
  run.state = state;
}

import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { PalyraActivities } from '../activities';
import { assertRunTransition, type RunState } from '../domain/run-state';
import {
  newRunDocument,
  nonRetryableFailureTypes,
  runMemoKey,
  runStateQuery,
  searchAttributes,
  type RunDocument,
  type RunError,
  type RunWorkflowInput,
} from '../temporal/contracts';

/** Retry profile of the provider call: transient provider errors back off, rejections do not. */
const providerRetry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: nonRetryableFailureTypes,
};

/**
 * One governed run: estimate → plan → admit → call the provider → settle → finish. Pricing,
 * routing and admission arrive with the ledger; today the run resolves its model from the request
 * and goes straight to the provider.
 */
export async function runWorkflow(input: RunWorkflowInput): Promise<RunDocument> {
  const run = newRunDocument(input);
  setHandler(runStateQuery, () => run);
  publish(run);

  const { invokeProvider } = proxyActivities<PalyraActivities>({
    startToCloseTimeout: input.timing.providerTimeoutMs,
    heartbeatTimeout: input.timing.heartbeatTimeoutMs,
    retry: providerRetry,
  });

  moveTo(run, 'running');
  run.startedAt = new Date().toISOString();
  publish(run);
  try {
    const result = await invokeProvider.executeWithOptions(
      { summary: `stream ${input.maxOutputTokens} max tokens from ${input.model.selected} (${input.model.providerId})` },
      [
        {
          runId: input.runId,
          providerId: input.model.providerId,
          model: input.model.selected,
          messages: input.messages,
          maxOutputTokens: input.maxOutputTokens,
          simulation: input.simulation,
          stallTimeoutMs: input.timing.heartbeatTimeoutMs,
        },
      ],
    );
    run.output = result.output;
    run.usage = result.usage;
    moveTo(run, 'succeeded');
  } catch (error) {
    if (isCancellation(error)) {
      moveTo(run, 'cancelled');
    } else {
      run.error = describeFailure(error);
      moveTo(run, 'failed');
    }
  }
  run.finishedAt = new Date().toISOString();
  publish(run);

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

/** Makes the current state visible: search attributes, memo and the UI's current details. */
function publish(run: RunDocument): void {
  upsertSearchAttributes([
    { key: searchAttributes.runState, value: run.state },
    { key: searchAttributes.model, value: run.model.selected },
    { key: searchAttributes.costMicroUsd, value: run.costMicroUsd },
  ]);
  const { output: _output, ...summary } = run;
  upsertMemo({ [runMemoKey]: summary });
  const tokens = run.usage ? `, ${run.usage.inputTokens} in / ${run.usage.outputTokens} out tokens` : '';
  setCurrentDetails(`**${run.state}** on \`${run.model.selected}\`, cost ${run.costMicroUsd} µUSD${tokens}`);
}

function describeFailure(error: unknown): RunError {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof TimeoutFailure) {
    return { code: 'provider_timeout', message: `the provider call timed out (${cause.timeoutType}) on its last attempt` };
  }
  if (cause instanceof ApplicationFailure) {
    return { code: toSnakeCase(cause.type ?? 'Error'), message: cause.message };
  }
  if (cause instanceof Error) return { code: 'internal_error', message: cause.message };
  return { code: 'internal_error', message: String(cause) };
}

function toSnakeCase(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

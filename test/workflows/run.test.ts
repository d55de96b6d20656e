import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client, type Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { simulatedText } from '../../src/domain/simulated-stream';
import {
  runStateQuery,
  runWorkflowId,
  runWorkflowType,
  searchAttributes,
  type RunDocument,
  type RunWorkflowInput,
} from '../../src/temporal/contracts';
import { connectTestClient, testConfig, withTestWorker, workflowBundle } from '../support/temporal';
import type { PalyraConfig } from '../../src/config';

let client: Client;
let connection: Connection;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  await workflowBundle();
});
afterAll(() => connection.close());

function runInput(overrides: Partial<RunWorkflowInput> = {}): RunWorkflowInput {
  return {
    runId: randomUUID(),
    tenantId: 'acme',
    principalId: 'svc-a',
    createdAt: new Date().toISOString(),
    messages: [{ role: 'user', content: 'summarise the quarterly report' }],
    model: { requested: 'sim-small', selected: 'sim-small', providerId: 'simulated' },
    maxOutputTokens: 256,
    taskClass: 'primary_interactive',
    simulation: { outputTokens: 12, chunkDelayMs: 5 },
    timing: { heartbeatTimeoutMs: 15_000, providerTimeoutMs: 60_000, approvalTimeoutMs: 60_000 },
    ...overrides,
  };
}

/** The started events of one activity type, in order: one per attempt that ran. */
async function attemptsOf(runId: string, activityType: string) {
  const history = await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      .map((e) => String(e.eventId)),
  );
  return events
    .map((e) => e.activityTaskStartedEventAttributes)
    .filter((started) => started && scheduled.has(String(started.scheduledEventId)));
}

function start(config: PalyraConfig, input: RunWorkflowInput) {
  return client.workflow.start(runWorkflowType, {
    workflowId: runWorkflowId(input.runId),
    taskQueue: config.temporal.taskQueue,
    args: [input],
  });
}

describe('run workflow', () => {
  it('streams the simulated tokens, reports usage and leaves the state searchable', async () => {
    const config = testConfig();
    const input = runInput();
    const result = await withTestWorker(config, async () => (await start(config, input)).result());
    const run = result as RunDocument;

    expect(run.state).toBe('succeeded');
    expect(run.output).toBe(simulatedText(input.runId, 12));
    expect(run.usage).toEqual({ inputTokens: 8, outputTokens: 12, estimated: false });
    expect(run.model).toEqual({ requested: 'sim-small', selected: 'sim-small' });
    expect(Date.parse(run.finishedAt as string)).toBeGreaterThanOrEqual(Date.parse(run.startedAt as string));

    const description = await client.workflow.getHandle(runWorkflowId(input.runId)).describe();
    expect(description.typedSearchAttributes.get(searchAttributes.runState)).toBe('succeeded');
    expect(description.typedSearchAttributes.get(searchAttributes.model)).toBe('sim-small');
    expect(await description.staticSummary()).toBeUndefined(); // set by the API, not by raw starts
  });

  it('answers the state query while the provider is still streaming', async () => {
    const config = testConfig();
    const input = runInput({ simulation: { outputTokens: 40, chunkDelayMs: 50 } });
    await withTestWorker(config, async () => {
      const handle = await start(config, input);
      let state = await handle.query(runStateQuery);
      for (let i = 0; i < 50 && state.state !== 'running'; i++) state = await handle.query(runStateQuery);
      expect(state).toMatchObject({ runId: input.runId, tenantId: 'acme', state: 'running' });
      await handle.result();
      expect((await handle.query(runStateQuery)).state).toBe('succeeded');
    });
  });

  it('retries a provider that answers HTTP 500 twice and succeeds on the third attempt', async () => {
    const config = testConfig();
    const input = runInput({ simulation: { outputTokens: 5, chunkDelayMs: 0, failAttempts: 2, failure: 'http_500' } });
    const run = (await withTestWorker(config, async () => (await start(config, input)).result())) as RunDocument;
    expect(run.state).toBe('succeeded');
    const [started] = await attemptsOf(input.runId, 'invokeProvider');
    expect(started?.attempt).toBe(3);
    expect(started?.lastFailure?.message).toMatch(/HTTP 500/);
  });

  it('aborts a stream that stalls longer than the heartbeat timeout and retries it', async () => {
    const config = testConfig();
    const input = runInput({
      simulation: { outputTokens: 6, chunkDelayMs: 0, stallAfterTokens: 3, stallMs: 60_000 },
      timing: { heartbeatTimeoutMs: 1_500, providerTimeoutMs: 60_000, approvalTimeoutMs: 60_000 },
    });
    const run = (await withTestWorker(config, async () => (await start(config, input)).result())) as RunDocument;
    expect(run.state).toBe('succeeded');
    expect(run.output).toBe(simulatedText(input.runId, 6));
    const [started] = await attemptsOf(input.runId, 'invokeProvider');
    expect(started?.attempt).toBe(2);
    expect(started?.lastFailure?.applicationFailureInfo?.type).toBe('ProviderStreamStalled');
    expect(started?.lastFailure?.message).toBe('no chunk from the provider for 1500 ms after 3 tokens');
  });

  it('fails the run with a named reason when its provider cannot serve it, without retrying', async () => {
    const config = testConfig({
      providers: [
        { id: 'simulated', kind: 'simulated' },
        { id: 'remote', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' },
      ],
      models: [
        {
          id: 'remote-model',
          provider: 'remote',
          tier: 'standard',
          contextWindow: 8_000,
          maxOutputTokens: 1_000,
          pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
        },
      ],
      routing: { defaultModel: 'remote-model' },
    });
    // This worker was deployed without provider 'remote' (e.g. its adapter is not configured here).
    const workerConfig = { ...config, providers: config.providers.filter((p) => p.id !== 'remote') };
    const input = runInput({
      model: { requested: 'remote-model', selected: 'remote-model', providerId: 'remote' },
      simulation: undefined,
    });
    const failure = await withTestWorker(workerConfig, async () =>
      (await start(config, input)).result().catch((e: unknown) => e),
    );

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('RunFailed');
    const run = (cause as ApplicationFailure).details?.[0] as RunDocument;
    expect(run.state).toBe('failed');
    expect(run.error).toEqual({
      code: 'unknown_provider',
      message: expect.stringContaining("provider 'remote' cannot serve model 'remote-model'"),
    });
    expect((await attemptsOf(input.runId, 'invokeProvider')).map((started) => started?.attempt)).toEqual([1]);
  });
});

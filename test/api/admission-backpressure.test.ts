import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { runWorkflowId } from '../../src/temporal/contracts';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import { postRun } from '../support/runs';

/**
 * Backpressure on POST /v1/runs against the dev server: with admission left to the workflow (a
 * separate API process) and no worker to decide, two admissions fill this API process; a third
 * waits its queue time and is refused 503 with Retry-After, having started nothing.
 */
let stack: TestStack;
let app: FastifyInstance;
beforeAll(async () => {
  stack = await openTestStack(
    { runs: { maxAdmissionsInFlight: 2, admissionQueueMs: 300, admissionWaitMs: 2_000 } },
    { admission: 'workflow' },
  );
  app = stack.app;
});
afterAll(() => stack?.close());

const body = (tenantId: string) => ({
  tenantId,
  principalId: 'svc',
  model: 'sim-standard',
  messages: [{ role: 'user', content: 'hello' }],
  simulation: { outputTokens: 2, chunkDelayMs: 0 },
});

it('refuses past the bound with 503 overloaded and Retry-After, starting nothing; the admitted ones answer 202', async () => {
  const answers = await Promise.all([
    postRun(app, body('acme')),
    postRun(app, body('acme')),
    postRun(app, body('globex'), testTokens.globexService),
  ]);
  const statuses = answers.map((answer) => answer.statusCode).sort();
  expect(statuses).toEqual([202, 202, 503]);
  const refused = answers.find((answer) => answer.statusCode === 503)!;
  expect(refused.headers['retry-after']).toBe('1');
  expect(refused.json().error).toMatchObject({ code: 'overloaded', details: { started: false } });
  expect(refused.json().error.message).toContain('nothing was started');
  // Each tenant holds at most one of the two slots (its share): acme's second request is the one
  // refused, and the answer names the share, while globex was admitted beside acme's first.
  expect(refused.json().error.message).toContain('tenant acme has its share of this API process');
  expect(refused.json().error.message).toContain('runs.maxAdmissionsInFlightPerTenant: 1');
  const runId = refused.json().error.details.runId as string;
  await expect(stack.client.workflow.getHandle(runWorkflowId(runId)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect(await stack.ledger.repo.getReservation(`run-${runId}`)).toBeUndefined();
});

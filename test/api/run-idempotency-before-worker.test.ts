import { runReservationId, runWorkflowId } from '../../src/temporal/contracts';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import { postRun, windowsOfRun } from '../support/runs';

/**
 * An idempotent repeat of `POST /v1/runs` before any worker has picked the run up (none polls this
 * stack's task queue): the API process decided admission when it started the run, and the repeat
 * answers as the first answer did, with that same decision, booked once.
 */
let stack: TestStack;
const runIds: string[] = [];
beforeAll(async () => {
  stack = await openTestStack();
});
afterAll(async () => {
  // Never picked up: ended here rather than left open on the shared dev server.
  await Promise.all(
    runIds.map((runId) => stack.client.workflow.getHandle(runWorkflowId(runId)).terminate('no worker on this task queue')),
  );
  await stack?.close();
});

/** A tenant of the test's own, with one daily cost budget. */
async function tenantWithBudget(action: 'block' | 'approval_required', hardLimit: number): Promise<string> {
  const tenantId = `idem-${Math.random().toString(36).slice(2, 10)}`;
  await stack.ledger.repo.putPolicy({
    policyId: `${tenantId}-daily`,
    scope: { kind: 'tenant', id: tenantId },
    metric: 'cost',
    window: 'day',
    hardLimit,
    action,
    enabled: true,
  });
  return tenantId;
}

const post = (tenantId: string, idempotencyKey: string, overrides: Record<string, unknown> = {}) =>
  postRun(
    stack.app,
    {
      tenantId,
      principalId: 'svc-checkout',
      messages: [{ role: 'user', content: 'write a haiku about budgets' }],
      model: 'sim-standard',
      simulation: { outputTokens: 4, chunkDelayMs: 1 },
      idempotencyKey,
      ...overrides,
    },
    testTokens.admin,
  );

const reservationsOf = (runId: string) =>
  stack.ledger.connection.db
    .selectFrom('reservations')
    .select(['reservation_id', 'state', 'amount_micro_usd'])
    .where('run_id', '=', runId)
    .execute();

it('answers a repeat with the admission of the first answer, its hold booked once', async () => {
  const tenantId = await tenantWithBudget('block', 5_000_000);
  const first = await post(tenantId, 'order-1');
  expect(first.statusCode).toBe(202);
  const { runId, admission } = first.json();
  runIds.push(runId);
  expect(first.json()).toMatchObject({
    state: 'queued',
    admission: { status: 'admitted', reservationId: runReservationId(runId) },
  });
  expect(admission.reservedMicroUsd).toBeGreaterThan(0);

  const repeat = await post(tenantId, 'order-1');
  expect(repeat.statusCode).toBe(202);
  expect(repeat.json()).toEqual(first.json());

  expect(await reservationsOf(runId)).toEqual([
    { reservation_id: runReservationId(runId), state: 'pending', amount_micro_usd: admission.reservedMicroUsd },
  ]);
  const window = (await windowsOfRun(stack.ledger.repo, runId)).find((w) => w.policyId === `${tenantId}-daily`);
  expect(window).toMatchObject({ reserved: admission.reservedMicroUsd, spent: 0 });
});

it('answers a repeat of a run parked for approval as parked, with the same refusal', async () => {
  const tenantId = await tenantWithBudget('approval_required', 10);
  const first = await post(tenantId, 'order-1');
  expect(first.statusCode).toBe(202);
  const { runId } = first.json();
  runIds.push(runId);
  expect(first.json()).toMatchObject({
    state: 'awaiting_approval',
    admission: { status: 'awaiting_approval', refusal: { policyId: `${tenantId}-daily` } },
  });

  const repeat = await post(tenantId, 'order-1');
  expect(repeat.statusCode).toBe(202);
  expect(repeat.json()).toEqual(first.json());
  expect(await reservationsOf(runId)).toEqual([
    { reservation_id: runReservationId(runId), state: 'refused', amount_micro_usd: 0 },
  ]);
});

it('refuses a repeat of a run its budget denied as the first answer did (402)', async () => {
  const tenantId = await tenantWithBudget('block', 10); // 10 µUSD: less than the prompt alone costs
  const first = await post(tenantId, 'order-1');
  expect(first.statusCode).toBe(402);
  const { runId } = first.json().error.details;
  runIds.push(runId);

  const repeat = await post(tenantId, 'order-1');
  expect(repeat.statusCode).toBe(402);
  expect(repeat.json()).toEqual(first.json());
  expect(await reservationsOf(runId)).toEqual([
    { reservation_id: runReservationId(runId), state: 'refused', amount_micro_usd: 0 },
  ]);
});

it('still refuses the key with other parameters (409), booking nothing for it', async () => {
  const tenantId = await tenantWithBudget('block', 5_000_000);
  const first = await post(tenantId, 'order-1');
  expect(first.statusCode).toBe(202);
  const { runId, admission } = first.json();
  runIds.push(runId);

  const changed = await post(tenantId, 'order-1', { maxOutputTokens: 7 });
  expect(changed.statusCode).toBe(409);
  expect(changed.json().error).toMatchObject({ code: 'conflict', details: { field: 'body.idempotencyKey', runId } });
  expect(await reservationsOf(runId)).toEqual([
    { reservation_id: runReservationId(runId), state: 'pending', amount_micro_usd: admission.reservedMicroUsd },
  ]);
});

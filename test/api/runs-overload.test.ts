import { setTimeout as delay } from 'node:timers/promises';
import {
  Client,
  Connection,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type WithStartWorkflowOperation,
  type Workflow,
} from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { temporalOverloadOf, temporalRetryAfterSeconds, type TemporalOverload } from '../../src/api/errors';
import { isTerminalRunState } from '../../src/domain/run-state';
import { runReservationId, runWorkflowId } from '../../src/temporal/contracts';
import { findFreePort } from '../../src/util/net';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun, waitForRunEnd } from '../support/runs';
import { connectTestClient, startTestWorker, withTestWorker } from '../support/temporal';

/**
 * `POST /v1/runs` when Temporal gives no budget decision in time: a run that was started is
 * answered 202 without `admission` and goes on; one that was not is a 503 with Retry-After that
 * left nothing on hold. Never a 500 for want of time or capacity.
 */

/** gRPC status codes, as `@grpc/grpc-js` numbers them. */
const grpcStatus = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;
type GrpcStatusName = keyof typeof grpcStatus;

/** An error as `@grpc/grpc-js` raises it for a call that ended with `code`. */
function grpcError(code: GrpcStatusName, details: string): Error {
  return Object.assign(new Error(`${grpcStatus[code]} ${code}: ${details}`), { code: grpcStatus[code], details, metadata: {} });
}

/** The errors the client raises from an update-with-start, each built as the SDK builds it. */
const sdkErrors: [string, () => Error, TemporalOverload][] = [
  [
    'ServiceError of RESOURCE_EXHAUSTED (namespace rate limit, after the client’s own retries)',
    () =>
      new ServiceError('Update-With-Start failed', { cause: grpcError('RESOURCE_EXHAUSTED', 'namespace rate limit exceeded') }),
    'resource_exhausted',
  ],
  [
    'ServiceError of UNAVAILABLE (server restarting)',
    () => new ServiceError('Update-With-Start failed', { cause: grpcError('UNAVAILABLE', 'No connection established') }),
    'unavailable',
  ],
  [
    'WorkflowUpdateRPCTimeoutOrCancelledError of CANCELLED ("Call cancelled", issue 13)',
    () => new WorkflowUpdateRPCTimeoutOrCancelledError('Call cancelled', { cause: grpcError('CANCELLED', 'Call cancelled') }),
    'cancelled',
  ],
  [
    'WorkflowUpdateRPCTimeoutOrCancelledError of DEADLINE_EXCEEDED',
    () =>
      new WorkflowUpdateRPCTimeoutOrCancelledError('Deadline exceeded', {
        cause: grpcError('DEADLINE_EXCEEDED', 'Deadline exceeded after 0.500s'),
      }),
    'deadline_exceeded',
  ],
  [
    'WorkflowUpdateRPCTimeoutOrCancelledError of a CancelledFailure',
    () =>
      new WorkflowUpdateRPCTimeoutOrCancelledError('Workflow update call timeout or cancelled', {
        cause: new CancelledFailure('cancelled'),
      }),
    'cancelled',
  ],
  [
    'ServiceError of DEADLINE_EXCEEDED (a start or describe past its deadline)',
    () => new ServiceError('Failed to start Workflow', { cause: grpcError('DEADLINE_EXCEEDED', 'Deadline exceeded') }),
    'deadline_exceeded',
  ],
];

describe('temporalOverloadOf', () => {
  it.each(sdkErrors)('%s', (_case, error, overload) => {
    expect(temporalOverloadOf(error())).toBe(overload);
  });
  it.each<[string, unknown]>([
    [
      'a request the server refused',
      new ServiceError('Update-With-Start failed', { cause: grpcError('INVALID_ARGUMENT', 'bad') }),
    ],
    ['a bare gRPC error of another code', grpcError('INVALID_ARGUMENT', 'bad')],
    ['an error of our own', new Error('boom')],
    ['not an error', 'deadline_exceeded'],
  ])('is undefined for %s', (_case, error) => {
    expect(temporalOverloadOf(error)).toBeUndefined();
  });
});

let client: Client;
let connection: Connection;
let ledger: TestLedger;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
});
afterAll(async () => {
  await ledger?.close();
  await connection?.close();
});

const runBody = { principalId: 'svc-checkout', messages: [{ role: 'user', content: 'hello' }], model: 'sim-standard' };
const simulation = { outputTokens: 4, chunkDelayMs: 1 };

/** Whether Temporal knows the run's workflow, asked through the test's own (working) client. */
async function workflowExists(runId: string): Promise<boolean> {
  return client.workflow
    .getHandle(runWorkflowId(runId))
    .describe()
    .then(
      () => true,
      (error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      },
    );
}

const holdOf = (runId: string) => ledger.repo.getReservation(runReservationId(runId));

/** The 503 of a run that was not started: Retry-After, a body naming why, and nothing on hold. */
async function expectNotStarted(response: Awaited<ReturnType<typeof postRun>>): Promise<Record<string, unknown>> {
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBe(String(temporalRetryAfterSeconds));
  const { error } = response.json();
  expect(error).toMatchObject({ code: 'temporal_unavailable', details: { runId: expect.any(String) } });
  expect(error.message).toContain(error.details.reason);
  expect(await holdOf(error.details.runId)).toBeUndefined();
  return error.details;
}

describe('no worker polls the task queue', () => {
  it('decided by the workflow (a separate API process): 202 without admission; the run completes once a worker comes', async () => {
    const { app, config } = await buildTestApp({
      client,
      connection,
      ledger: ledger.repo,
      config: { runs: { admissionWaitMs: 300 } },
      admission: 'workflow',
    });
    try {
      const started = await postRun(app, { ...runBody, simulation });
      expect(started.statusCode).toBe(202);
      expect(started.json()).toMatchObject({ state: 'queued', temporal: { runId: expect.any(String) } });
      expect(started.json().admission).toBeUndefined();
      const { runId } = started.json();
      expect(await holdOf(runId)).toBeUndefined(); // nobody has admitted it yet

      const ended = await withTestWorker(config, () => waitForRunEnd(app, runId), ledger.repo);
      expect(ended).toMatchObject({ runId, state: 'succeeded', admission: { status: 'admitted' } });
      await expectBooksClosed(ledger);
    } finally {
      await app.close();
    }
  });

  it('decided in the API process: 202 with the admission and its hold at once; the worker that comes later books nothing twice', async () => {
    const { app, config } = await buildTestApp({
      client,
      connection,
      ledger: ledger.repo,
      config: { runs: { admissionWaitMs: 300 } },
    });
    try {
      const started = await postRun(app, { ...runBody, simulation });
      expect(started.statusCode).toBe(202);
      const { runId, admission } = started.json();
      expect(admission).toMatchObject({ status: 'admitted', reservationId: runReservationId(runId) });
      expect(await holdOf(runId)).toMatchObject({ state: 'pending', amountMicroUsd: admission.reservedMicroUsd });

      const ended = await withTestWorker(config, () => waitForRunEnd(app, runId), ledger.repo);
      // The workflow's own admission step got the same decision back: one reservation, settled once.
      expect(ended).toMatchObject({ runId, state: 'succeeded', admission: { reservationId: admission.reservationId } });
      expect(await holdOf(runId)).toMatchObject({ state: 'settled' });
      await expectBooksClosed(ledger);
    } finally {
      await app.close();
    }
  });
});

describe('Temporal unreachable', () => {
  it('answers 503 with Retry-After and holds nothing; reads are 503 with Retry-After too', async () => {
    const cutConnection = Connection.lazy({ address: `127.0.0.1:${await findFreePort()}` });
    const { app } = await buildTestApp({
      client: new Client({ connection: cutConnection, namespace: 'default' }),
      connection: cutConnection,
      ledger: ledger.repo,
      config: { runs: { admissionWaitMs: 300 } },
    });
    try {
      const details = await expectNotStarted(await postRun(app, { ...runBody, simulation }));
      // Nothing answered at all, so whether the run started cannot be known from here.
      expect(details).toMatchObject({ started: 'unknown', reason: expect.stringMatching(/^(deadline_exceeded|unavailable)$/) });
      expect(await workflowExists(details.runId as string)).toBe(false);

      const read = await app.inject({ method: 'GET', url: `/v1/runs/${details.runId}`, headers: bearer(testTokens.admin) });
      expect(read.statusCode).toBe(503);
      expect(read.headers['retry-after']).toBe(String(temporalRetryAfterSeconds));
      expect(read.json().error.code).toBe('temporal_unavailable');
    } finally {
      await app.close();
      // The client's retry interceptor may still have a retry scheduled (it fails at once, past the
      // deadline); closing the channel under it would throw from a timer.
      await delay(3_000);
      await cutConnection.close();
    }
  });
});

/**
 * The real client, except that the call that starts a run throws `error`: after starting the run
 * for real (`afterStart`: the server took the start, its answer was lost) or without sending
 * anything. That call is the update-with-start (`startUpdateWithStart`) where the workflow decides
 * admission, the plain start where the API process does.
 */
function clientWhoseStartFails(real: Client, error: () => Error, afterStart: boolean): Client {
  const workflow = new Proxy(real.workflow, {
    get(target, property) {
      if (property === 'startUpdateWithStart') {
        return async (
          _update: unknown,
          { startWorkflowOperation }: { startWorkflowOperation: WithStartWorkflowOperation<Workflow> },
        ) => {
          if (afterStart) await target.start(startWorkflowOperation.workflowTypeOrFunc, startWorkflowOperation.options);
          throw error();
        };
      }
      if (property === 'start') {
        return async (...args: Parameters<Client['workflow']['start']>) => {
          if (afterStart) await target.start(...args);
          throw error();
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(real, {
    get: (target, property) => (property === 'workflow' ? workflow : Reflect.get(target, property, target)),
  });
}

/** The real client, noting the workflow id of every describe made through it. */
function clientNotingDescribes(real: Client, described: string[]): Client {
  const workflow = new Proxy(real.workflow, {
    get(target, property) {
      if (property === 'getHandle') {
        return (...args: Parameters<Client['workflow']['getHandle']>) => {
          const handle = target.getHandle(...args);
          return {
            ...handle,
            describe: () => {
              described.push(args[0]);
              return handle.describe();
            },
          };
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(real, {
    get: (target, property) => (property === 'workflow' ? workflow : Reflect.get(target, property, target)),
  });
}

describe('a run the workflow admits at once (a separate API process)', () => {
  it('links to the execution its update-with-start started, without describing it afterwards', async () => {
    const described: string[] = [];
    const { app, config } = await buildTestApp({
      client: clientNotingDescribes(client, described),
      connection,
      ledger: ledger.repo,
      admission: 'workflow',
    });
    const worker = await startTestWorker(config, ledger.repo);
    try {
      const started = await postRun(app, { ...runBody, simulation });
      expect(started.statusCode).toBe(202);
      const { runId, temporal } = started.json();
      expect(started.json().admission).toMatchObject({ status: 'admitted', reservationId: runReservationId(runId) });
      expect(described).toEqual([]);
      const description = await client.workflow.getHandle(runWorkflowId(runId)).describe();
      expect(temporal).toMatchObject({ workflowId: runWorkflowId(runId), runId: description.runId });
      await waitForRunEnd(app, runId);
      await expectBooksClosed(ledger);
    } finally {
      await app.close();
      await worker.stop();
    }
  });
});

describe.each(['workflow', 'in_process'] as const)(
  'errors forced through the client (admission decided: %s)',
  (admissionMode) => {
    let worker: { stop(): Promise<void> };
    let app: FastifyInstance;
    let failing: { error: () => Error; afterStart: boolean } | undefined;
    beforeAll(async () => {
      const failingClient = new Proxy(client, {
        get: (target, property) => {
          const current = failing ? clientWhoseStartFails(target, failing.error, failing.afterStart) : target;
          return Reflect.get(current, property, current);
        },
      });
      let config;
      ({ app, config } = await buildTestApp({
        client: failingClient,
        connection,
        ledger: ledger.repo,
        admission: admissionMode,
      }));
      worker = await startTestWorker(config, ledger.repo);
    });
    afterAll(async () => {
      await app?.close();
      await worker?.stop();
    });
    afterEach(() => {
      failing = undefined;
    });

    describe.each(sdkErrors)('%s', (_case, error, overload) => {
      it('before the start: 503 with Retry-After, no workflow, no hold', async () => {
        failing = { error, afterStart: false };
        const details = await expectNotStarted(await postRun(app, { ...runBody, simulation }));
        expect(details).toMatchObject({ started: false, reason: overload });
        expect(await workflowExists(details.runId as string)).toBe(false);
        expect(await holdOf(details.runId as string)).toBeUndefined();
      });

      it('after the start: 202 without admission; the run goes on and settles', async () => {
        failing = { error, afterStart: true };
        const started = await postRun(app, { ...runBody, simulation });
        expect(started.statusCode).toBe(202);
        expect(started.json().admission).toBeUndefined();
        failing = undefined;
        const { runId } = started.json();
        expect(await waitForRunEnd(app, runId)).toMatchObject({ state: 'succeeded', admission: { status: 'admitted' } });
        await expectBooksClosed(ledger);
      });
    });

    it('an idempotent repeat after a lost answer returns the run that was started', async () => {
      failing = { error: sdkErrors[2]![1], afterStart: true };
      const body = { ...runBody, simulation, idempotencyKey: 'overload-repeat-1' };
      const first = await postRun(app, body);
      expect(first.statusCode).toBe(202);
      failing = undefined;
      const again = await postRun(app, body);
      expect(again.statusCode).toBe(202);
      expect(again.json().runId).toBe(first.json().runId);
      await waitForRunEnd(app, first.json().runId);
    });

    it('any other Temporal error stays a 500 that tells only a request id (the mapping is no catch-all)', async () => {
      failing = {
        error: () => new ServiceError('Update-With-Start failed', { cause: grpcError('INVALID_ARGUMENT', 'bad request') }),
        afterStart: false,
      };
      const response = await postRun(app, { ...runBody, simulation });
      expect(response.statusCode).toBe(500);
      expect(response.headers['retry-after']).toBeUndefined();
      expect(response.json().error).toEqual({
        code: 'internal_error',
        message: expect.stringMatching(/^internal error \(request /),
      });
    });
  },
);

/** What the burst reads of each answer: the run of a 202, the error of anything else. */
interface BurstAnswer {
  runId?: string;
  error?: { code: string; details?: { runId?: string; started?: false | 'unknown'; reason?: string } };
}

describe('a burst of 200 concurrent starts against a listening API', () => {
  it('answers each 202, 402 or 503, never a 500, and leaves the books closed', async () => {
    const burst = 200;
    const { app, config } = await buildTestApp({
      client,
      connection,
      ledger: ledger.repo,
      config: { runs: { admissionWaitMs: 1_000 }, server: { rateLimit: { max: 10_000, timeWindowMs: 60_000 } } },
    });
    // What a few dozen runs spend: the rest are refused, at once (402) or once admitted late.
    await ledger.repo.putPolicy({
      policyId: 'overload-burst',
      scope: { kind: 'tenant', id: 'burst' },
      metric: 'cost',
      window: 'total',
      hardLimit: 3_000,
      action: 'block',
      enabled: true,
    });
    const worker = await startTestWorker(config, ledger.repo);
    try {
      const base = await app.listen({ port: 0, host: '127.0.0.1' });
      const responses = await Promise.all(
        Array.from({ length: burst }, () =>
          fetch(`${base}/v1/runs`, {
            method: 'POST',
            headers: { ...bearer(testTokens.admin), 'content-type': 'application/json' },
            body: JSON.stringify({ tenantId: 'burst', ...runBody, maxOutputTokens: 50, simulation }),
          }).then(async (response) => ({
            status: response.status,
            retryAfter: response.headers.get('retry-after'),
            body: (await response.json()) as BurstAnswer,
          })),
        ),
      );
      const counts: Record<number, number> = {};
      for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
      console.log(`burst of ${burst} at concurrency ${burst}: ${JSON.stringify(counts)}`);
      const reasons: Record<string, number> = {};
      for (const { body } of responses.filter((r) => r.status === 503)) {
        const key = `started ${String(body.error?.details?.started)}, ${String(body.error?.details?.reason)}`;
        reasons[key] = (reasons[key] ?? 0) + 1;
      }
      console.log(`the 503s: ${JSON.stringify(reasons)}`);
      expect(Object.keys(counts).filter((status) => !['202', '402', '503'].includes(status))).toEqual([]);

      for (const { status, retryAfter, body } of responses.filter((r) => r.status === 503)) {
        expect({ status, retryAfter, code: body.error?.code }).toEqual({
          status: 503,
          retryAfter: String(temporalRetryAfterSeconds),
          code: 'temporal_unavailable',
        });
        if (body.error?.details?.started === false) expect(await holdOf(body.error.details.runId ?? '')).toBeUndefined();
      }
      // Every run that was started ends, and settles or releases what it held (a 503 whose run
      // started after all included).
      const runIds = responses.map(({ body }) => body.runId ?? body.error?.details?.runId);
      const deadline = Date.now() + 120_000;
      for (const runId of runIds.filter((id): id is string => typeof id === 'string')) {
        if (!(await workflowExists(runId))) continue;
        for (;;) {
          const run = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) });
          if (run.statusCode === 200 && isTerminalRunState(run.json().state)) break;
          if (Date.now() > deadline) throw new Error(`run ${runId} did not end`);
          await delay(100);
        }
      }
      await expectBooksClosed(ledger);
    } finally {
      await app.close();
      await worker.stop();
    }
  }, 180_000);
});

import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { bearer, testTokens } from './app';
import { isTerminalRunState } from '../../src/domain/run-state';
import type { LedgerRepository, WindowReport } from '../../src/ledger';
import { runReservationId } from '../../src/temporal/contracts';
import type { TestLedger } from './ledger';

/** `POST /v1/runs` as acme's service (tenant `acme` unless the payload names another). */
export function postRun(app: FastifyInstance, payload: Record<string, unknown>, token = testTokens.acmeService) {
  return app.inject({ method: 'POST', url: '/v1/runs', headers: bearer(token), payload: { tenantId: 'acme', ...payload } });
}

/** Polls `GET /v1/runs/:runId` (as admin) until the run has ended; returns its document. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the run document as JSON, asserted field by field
export async function waitForRunEnd(app: FastifyInstance, runId: string): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const run = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) })).json();
    if (isTerminalRunState(run.state)) return run;
    await delay(50);
  }
  throw new Error(`run ${runId} did not finish`);
}

/** What every run scenario must leave behind: books that balance and nothing left on hold. */
export async function expectBooksClosed(ledger: TestLedger): Promise<void> {
  expect(await ledger.invariants(new Date())).toEqual([]);
  const pending = await ledger.connection.db
    .selectFrom('reservations')
    .select('reservation_id')
    .where('state', '=', 'pending')
    .execute();
  expect(pending).toEqual([]);
}

/**
 * The policy windows a run's hold was booked into, read at its reservation time: a run that
 * crosses 00:00 UTC is still found in its own day's window, not the new (empty) one.
 */
export async function windowsOfRun(repo: LedgerRepository, runId: string): Promise<WindowReport[]> {
  const reservation = await repo.getReservation(runReservationId(runId));
  if (!reservation) throw new Error(`run ${runId} has no reservation`);
  return repo.usageReport(new Date(reservation.createdAt));
}

import { startReservationSweeper } from '../../src/ledger';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const price = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };
const scope = { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' };

describe.each(ledgerDialects())('reservation sweeper on %s', (dialect) => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await openTestLedger(dialect);
    await ledger.repo.putPolicy({
      policyId: 'acme-daily',
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit: 1_000,
      action: 'block',
      enabled: true,
    });
  });
  afterEach(() => ledger.close());

  it('gives the hold of a run that never settled back once it expires, and leaves live holds alone', async () => {
    const reserve = (reservationId: string, expiresInMs: number) =>
      ledger.repo.reserve({
        reservationId,
        runId: `run-${reservationId}`,
        scope,
        inputTokens: 100,
        maxOutputTokens: 50,
        price,
        catalogVersion: 'test',
        expiresAt: new Date(Date.now() + expiresInMs),
      });
    expect(await reserve('abandoned', 150)).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });
    expect(await reserve('live', 3_600_000)).toMatchObject({ status: 'refused' }); // 750 + 750 > 1000

    const swept: string[] = [];
    const errors: Error[] = [];
    const sweeper = startReservationSweeper({
      repo: ledger.repo,
      intervalMs: 50,
      onSwept: (ids) => swept.push(...ids),
      onError: (error) => errors.push(error),
    });
    try {
      const deadline = Date.now() + 5_000;
      while (swept.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      await sweeper.stop();
    }
    expect(errors).toEqual([]);
    expect(swept).toEqual(['abandoned']);
    expect(await ledger.repo.getReservation('abandoned')).toMatchObject({ state: 'expired' });
    expect((await ledger.repo.usageReport())[0]).toMatchObject({ policyId: 'acme-daily', spent: 0, reserved: 0 });
    // The budget is whole again: a new run fits.
    expect(await reserve('next', 3_600_000)).toMatchObject({ status: 'admitted' });
    expect(await ledger.invariants(new Date(), 50)).toEqual([]);
  });
});

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
      hardLimit: 1_500, // two holds of 750 µUSD, not three
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
    expect(await reserve('abandoned', 150)).toMatchObject({ status: 'admitted', amountMicroUsd: 750, clamped: false });
    expect(await reserve('live', 3_600_000)).toMatchObject({ status: 'admitted', amountMicroUsd: 750, clamped: false });
    // Both hold before the sweep: the live one is a real pending hold the sweeper must keep.
    expect(await ledger.repo.getReservation('abandoned')).toMatchObject({ state: 'pending' });
    expect(await ledger.repo.getReservation('live')).toMatchObject({ state: 'pending' });
    expect((await ledger.repo.usageReport())[0]).toMatchObject({ policyId: 'acme-daily', spent: 0, reserved: 1_500 });
    // The window is full: nothing more fits while both hold.
    expect(await reserve('blocked', 3_600_000)).toMatchObject({ status: 'refused' });

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
      // A few more sweeps, so a sweeper that also expired live holds would have done it by now.
      await new Promise((resolve) => setTimeout(resolve, 250));
    } finally {
      await sweeper.stop();
    }
    expect(errors).toEqual([]);
    expect(swept).toEqual(['abandoned']);
    expect(await ledger.repo.getReservation('abandoned')).toMatchObject({ state: 'expired' });
    // The live hold survived the sweeps: still pending, still booked in the window.
    expect(await ledger.repo.getReservation('live')).toMatchObject({ state: 'pending', amountMicroUsd: 750 });
    expect((await ledger.repo.usageReport())[0]).toMatchObject({ policyId: 'acme-daily', spent: 0, reserved: 750 });
    // The abandoned hold's room is free again: a new run fits in full beside the live one.
    expect(await reserve('next', 3_600_000)).toMatchObject({ status: 'admitted', amountMicroUsd: 750, clamped: false });
    // The live hold is still a hold: settling it books what it used.
    expect(await ledger.repo.settle({ reservationId: 'live', actual: { inputTokens: 100, outputTokens: 50 } })).toMatchObject({
      status: 'settled',
      costMicroUsd: 750,
    });
    expect(await ledger.invariants(new Date(), 50)).toEqual([]);
  });
});

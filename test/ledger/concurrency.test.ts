import path from 'node:path';
import { createLedgerRepository, type ReserveOutcome } from '../../src/ledger';
import { ledgerDialects, openTestLedger } from '../support/ledger';
import { jsonFromScriptProcess } from './support/script-process';
import { expectBooksClosed } from '../support/runs';
import {
  admissibleReservations,
  concurrencyPolicy,
  reservationCostMicroUsd,
  reservationFor,
} from './support/concurrency-fixture';

const workerScript = path.join(__dirname, 'support', 'reserve-worker.ts');
const total = 200;

function runWorkerProcess(args: string[]): Promise<{ id: string; status: string }[]> {
  return jsonFromScriptProcess<{ id: string; status: string }[]>(workerScript, args);
}

describe.each(ledgerDialects())('ledger concurrency on %s', (dialect) => {
  it(`admits exactly ${admissibleReservations} of ${total} concurrent reservations from several processes and connections`, async () => {
    // The test's own connection stays idle while the workers run, so it never holds the SQLite lock.
    const ledger = await openTestLedger(dialect);
    try {
      await ledger.repo.putPolicy(concurrencyPolicy);
      // PostgreSQL: four processes with 40 each plus 40 more from four connections of this process.
      // SQLite: five processes with one connection each. better-sqlite3 is synchronous, so two
      // connections inside one process would block each other's event loop; Palyra opens one per
      // process, and separate processes are what contend for the file.
      const processCount = dialect === 'sqlite' ? 5 : 4;
      const processes = Array.from({ length: processCount }, (_, p) =>
        runWorkerProcess([dialect, ledger.store.location, `proc${p}`, '40']),
      );
      const connections = dialect === 'postgres' ? [0, 1, 2, 3].map(() => ledger.store.connect(4)) : [];
      const local = connections.flatMap((connection, c) => {
        const repo = createLedgerRepository({ connection });
        return Array.from({ length: 10 }, (_, i) => repo.reserve(reservationFor(`conn${c}-${i}`)));
      });
      const results: { id: string; status: string }[] = [
        ...(await Promise.all(processes)).flat(),
        ...(await Promise.all(local)).map((o: ReserveOutcome) => ({ id: o.reservationId, status: o.status })),
      ];
      await Promise.all(connections.map((c) => c.close()));

      expect(results).toHaveLength(total);
      const admitted = results.filter((r) => r.status === 'admitted');
      expect(admitted).toHaveLength(admissibleReservations);
      expect(results.filter((r) => r.status === 'refused')).toHaveLength(total - admissibleReservations);
      const [window] = await ledger.repo.usageReport();
      expect(window).toMatchObject({ reserved: concurrencyPolicy.hardLimit, spent: 0 });

      // Settle half with real usage, release the rest: nothing stays pending, nothing overspent.
      for (const [index, { id }] of admitted.entries()) {
        if (index % 2 === 0) await ledger.repo.settle({ reservationId: id, actual: { inputTokens: 100, outputTokens: 30 } });
        else await ledger.repo.release(id);
      }
      const [after] = await ledger.repo.usageReport();
      expect(after?.reserved).toBe(0);
      expect(after?.spent).toBe((admissibleReservations / 2) * 550);
      expect((after?.spent ?? 0) + (after?.reserved ?? 0)).toBeLessThanOrEqual(reservationCostMicroUsd * admissibleReservations);
      await expectBooksClosed(ledger);
    } finally {
      await ledger.close();
    }
  }, 120_000);
});

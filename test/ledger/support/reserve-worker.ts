/**
 * A separate process that makes reservations against a ledger store, for the concurrency test:
 *   node --import tsx reserve-worker.ts <dialect> <location> <prefix> <count>
 * Prints one JSON line with the statuses.
 */
import { createLedgerRepository, openPostgres, openSqlite } from '../../../src/ledger';
import { reservationFor } from './concurrency-fixture';

async function main() {
  const [dialect, location, prefix, count] = process.argv.slice(2) as [string, string, string, string];
  const connection = dialect === 'postgres' ? openPostgres(location, 4) : openSqlite(location);
  const repo = createLedgerRepository({ connection });
  const outcomes = await Promise.all(
    Array.from({ length: Number(count) }, (_, i) => repo.reserve(reservationFor(`${prefix}-${i}`))),
  );
  await connection.close();
  process.stdout.write(`${JSON.stringify(outcomes.map((o) => ({ id: o.reservationId, status: o.status })))}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});

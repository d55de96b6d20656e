/**
 * A separate process that claims remediation slots against a ledger store, for the self-healing test:
 *   node --import tsx claim-worker.ts <dialect> <location> <prefix> <count> <maxPerMinute> <startAtEpochMs>
 * Waits until `startAt`, so the processes claim at the same moment; prints one JSON line with the claims.
 */
import { createLedgerRepository, openPostgres, openSqlite } from '../../../src/ledger';

async function main() {
  const [dialect, location, prefix, count, maxPerMinute, startAt] = process.argv.slice(2) as string[] as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const connection = dialect === 'postgres' ? openPostgres(location, 4) : openSqlite(location);
  const repo = createLedgerRepository({ connection });
  await repo.ping();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  const claims = await Promise.all(
    Array.from({ length: Number(count) }, (_, i) =>
      repo.claimRemediationSlot({
        incidentId: `${prefix}-${i}`,
        remediationId: 'release_reservation',
        by: 'supervisor',
        maxPerMinute: Number(maxPerMinute),
        breaker: { consecutiveFailures: 3, openMs: 300_000 },
      }),
    ),
  );
  await connection.close();
  process.stdout.write(`${JSON.stringify(claims)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});

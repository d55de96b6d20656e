/**
 * Ledger throughput and latency: reserve+settle pairs at concurrency 1, 16 and 64 on SQLite and
 * PostgreSQL, each beside a baseline on the same database in the same run (one plain transaction
 * with one INSERT and one UPDATE). Checks that nothing was overspent after every run.
 *
 * The hard limits bind: each policy holds about half of the reservations that will be asked of it,
 * plus a remainder that only a clamped one fits, so a run refuses and clamps reservations
 * concurrently with admitting others, and its overspend check can fail. Every admitted run uses all
 * the output it was granted (settles at its hold), so an over-admission could not be hidden by
 * settling below the hold. After each run every stored window is checked
 * (overspend = max(0, spent + reserved − limit)) and so are the ledger invariants
 * (`checkLedgerInvariants`); the process exits non-zero when any overspend or violation was found,
 * or when a limit did not bind.
 *
 * Two workloads. `hot`: every reservation books into one global policy window, the worst case (one
 * row everybody updates; the baseline updates one counter row). `spread`: each concurrent lane is
 * its own tenant with its own policy (and its own baseline counter), as when many tenants share
 * an installation.
 *
 *   npm run bench -- ledger [pairsPerWorker=50] [stores=sqlite,postgres]
 *
 * PostgreSQL is $PALYRA_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test; without
 * `stores`, it is skipped when unreachable, and naming it makes an unreachable server an error.
 *
 * Targets: at concurrency 16, pair throughput at least 0.5× the baseline on both stores, and on
 * PostgreSQL p99 reserve latency under 5 ms; zero overspend everywhere. A "pair" is one reserve
 * plus, when admitted, its settle: refused reservations count as pairs too (a reserve alone).
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import { checkLedgerInvariants, createLedgerRepository, type LedgerConnection, type LedgerDialect } from '../src/ledger';
import { createTestLedgerStore } from '../test/support/ledger';
import { testEnv } from '../test/support/env';
import { percentile, writeResults } from './results';

const concurrencies = [1, 16, 64];
const defaultPostgresUrl = 'postgres://postgres@127.0.0.1:5432/test';

/** Every reservation asks for 100 input and 50 output tokens at $2.50 / $10 per MTok: 750 µUSD. */
const price = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };
const inputTokens = 100;
const maxOutputTokens = 50;
const minOutputTokens = 10;
const fullMicroUsd = 750;
/** Room left over by the whole reservations that fit: 250 input + 25 output tokens, so one is clamped. */
const clampRoomMicroUsd = 500;

type Workload = 'hot' | 'spread';

interface Row {
  store: LedgerDialect;
  workload: Workload;
  concurrency: number;
  pairs: number;
  pairsPerSecond: number;
  reserveP50Ms: number;
  reserveP99Ms: number;
  pairP50Ms: number;
  pairP99Ms: number;
  baselineTxPerSecond: number;
  baselineP50Ms: number;
  baselineP99Ms: number;
  ratioToBaseline: number;
  admitted: number;
  clamped: number;
  refused: number;
  windows: number;
  overspend: number;
  invariantViolations: number;
}

interface WindowCheck {
  policyId: string;
  periodKey: string;
  spent: number;
  reserved: number;
  limit: number;
  overspend: number;
}

/** Every stored policy window with its policy's hard limit and its overspend. */
async function checkWindows(connection: LedgerConnection): Promise<WindowCheck[]> {
  const rows = await connection.db
    .selectFrom('policy_windows')
    .innerJoin('budget_policies', 'budget_policies.policy_id', 'policy_windows.policy_id')
    .select([
      'policy_windows.policy_id',
      'policy_windows.period_key',
      'policy_windows.spent',
      'policy_windows.reserved',
      'budget_policies.hard_limit',
    ])
    .orderBy('policy_windows.policy_id')
    .orderBy('policy_windows.period_key')
    .execute();
  return rows.map((row) => ({
    policyId: row.policy_id,
    periodKey: row.period_key,
    spent: row.spent,
    reserved: row.reserved,
    limit: row.hard_limit,
    overspend: Math.max(0, row.spent + row.reserved - row.hard_limit),
  }));
}

async function postgresAvailable(): Promise<boolean> {
  const url = process.env[testEnv.postgresUrl] || defaultPostgresUrl;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    process.env[testEnv.postgresUrl] = url;
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `total` operations with `concurrency` of them in flight; returns per-op latencies. */
async function drive(
  total: number,
  concurrency: number,
  op: (i: number, lane: number) => Promise<number[]>,
): Promise<{ elapsedMs: number; samples: number[][] }> {
  const samples: number[][] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      while (next < total) samples.push(await op(next++, lane));
    }),
  );
  return { elapsedMs: performance.now() - started, samples };
}

async function baseline(connection: LedgerConnection, total: number, concurrency: number, workload: Workload) {
  const { db } = connection;
  await sql`create table if not exists bench_baseline (id text primary key, amount bigint not null)`.execute(db);
  await sql`create table if not exists bench_counter (id text primary key, total bigint not null)`.execute(db);
  await sql`delete from bench_baseline`.execute(db);
  await sql`delete from bench_counter`.execute(db);
  for (let lane = 0; lane < (workload === 'hot' ? 1 : concurrency); lane++) {
    await sql`insert into bench_counter (id, total) values (${`c${lane}`}, 0)`.execute(db);
  }
  // The same transaction discipline as the ledger (BEGIN IMMEDIATE on SQLite), written out here so
  // the baseline measures the database and nothing of ours.
  const transaction = async <T>(fn: (trx: typeof db) => Promise<T>) =>
    connection.dialect === 'postgres'
      ? db.transaction().execute(fn)
      : db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (error) {
            await sql`rollback`.execute(conn);
            throw error;
          }
        });
  return drive(total, concurrency, async (i, lane) => {
    const t0 = performance.now();
    const counter = `c${workload === 'hot' ? 0 : lane}`;
    await transaction(async (trx) => {
      await sql`insert into bench_baseline (id, amount) values (${`b${concurrency}-${i}`}, 750)`.execute(trx);
      await sql`update bench_counter set total = total + 750 where id = ${counter}`.execute(trx);
    });
    return [performance.now() - t0];
  });
}

async function benchStore(dialect: LedgerDialect, workload: Workload, pairsPerWorker: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const concurrency of workload === 'hot' ? concurrencies : concurrencies.filter((c) => c > 1)) {
    const store = await createTestLedgerStore(dialect, { dropImmediately: true });
    const connection = store.connect(Math.min(concurrency, 64));
    try {
      const repo = createLedgerRepository({ connection });
      const total = Math.max(200, pairsPerWorker * concurrency);
      const lanes = workload === 'hot' ? 1 : concurrency;
      // A binding limit: room for about half of the reservations each window will be asked for
      // (hot: all of them; spread: its lane's share), plus a remainder that fits a clamped one only.
      const limit = Math.floor(total / lanes / 2) * fullMicroUsd + clampRoomMicroUsd;
      for (let lane = 0; lane < lanes; lane++) {
        await repo.putPolicy({
          policyId: `bench-${lane}`,
          scope: workload === 'hot' ? { kind: 'global' } : { kind: 'tenant', id: `tenant-${lane}` },
          metric: 'cost',
          window: 'day',
          hardLimit: limit,
          action: 'block',
          enabled: true,
        });
      }
      const base = await baseline(connection, total, concurrency, workload);
      const outcomes = { admitted: 0, clamped: 0, refused: 0 };
      const run = await drive(total, concurrency, async (i, lane) => {
        const t0 = performance.now();
        const outcome = await repo.reserve({
          reservationId: `bench-${concurrency}-${i}`,
          runId: `run-${i}`,
          scope: { tenantId: workload === 'hot' ? 'bench' : `tenant-${lane}`, principalId: 'p', modelId: 'm' },
          inputTokens,
          maxOutputTokens,
          minOutputTokens,
          price,
          catalogVersion: 'bench',
          expiresAt: new Date(Date.now() + 3_600_000),
        });
        const t1 = performance.now();
        if (outcome.status === 'admitted') {
          outcomes[outcome.clamped ? 'clamped' : 'admitted']++;
          // The provider uses all it was granted: spent ends as the sum of the admitted holds.
          await repo.settle({
            reservationId: outcome.reservationId,
            actual: { inputTokens, outputTokens: outcome.maxOutputTokens },
          });
        } else {
          outcomes.refused++;
        }
        return [t1 - t0, performance.now() - t0];
      });
      const windows = await checkWindows(connection);
      const violations = await checkLedgerInvariants(connection.db, { now: new Date(), sweepIntervalMs: 60_000 });
      const reserveMs = run.samples.map((s) => s[0] as number).sort((a, b) => a - b);
      const pairMs = run.samples.map((s) => s[1] as number).sort((a, b) => a - b);
      const baseMs = base.samples.map((s) => s[0] as number).sort((a, b) => a - b);
      const pairsPerSecond = (total / run.elapsedMs) * 1000;
      const baselineTxPerSecond = (total / base.elapsedMs) * 1000;
      rows.push({
        store: dialect,
        workload,
        concurrency,
        pairs: total,
        pairsPerSecond,
        reserveP50Ms: percentile(reserveMs, 50),
        reserveP99Ms: percentile(reserveMs, 99),
        pairP50Ms: percentile(pairMs, 50),
        pairP99Ms: percentile(pairMs, 99),
        baselineTxPerSecond,
        baselineP50Ms: percentile(baseMs, 50),
        baselineP99Ms: percentile(baseMs, 99),
        ratioToBaseline: pairsPerSecond / baselineTxPerSecond,
        ...outcomes,
        windows: windows.length,
        overspend: windows.reduce((sum, window) => sum + window.overspend, 0),
        invariantViolations: violations.length,
      });
      const r = rows[rows.length - 1] as Row;
      const fullest = windows.reduce<WindowCheck | undefined>(
        (a, b) => (a && a.spent + a.reserved >= b.spent + b.reserved ? a : b),
        undefined,
      );
      process.stdout.write(
        `${dialect} ${workload} c=${concurrency}: ${r.pairsPerSecond.toFixed(0)} pairs/s (baseline ${r.baselineTxPerSecond.toFixed(0)} tx/s), reserve p99 ${r.reserveP99Ms.toFixed(2)} ms\n` +
          `  ${total} reserves against ${lanes} × ${limit} µUSD: ${r.admitted} admitted, ${r.clamped} clamped, ${r.refused} refused\n` +
          `  ${windows.length} windows checked, overspend ${r.overspend} µUSD` +
          (fullest
            ? ` (fullest: ${fullest.policyId} ${fullest.periodKey} spent ${fullest.spent} + reserved ${fullest.reserved} of ${fullest.limit})`
            : '') +
          `, invariant violations ${violations.length}\n`,
      );
      for (const window of windows.filter((w) => w.overspend > 0)) {
        process.stdout.write(
          `  OVERSPEND ${window.policyId} ${window.periodKey}: spent ${window.spent} + reserved ${window.reserved} - limit ${window.limit} = ${window.overspend} µUSD\n`,
        );
      }
      for (const violation of violations) process.stdout.write(`  VIOLATION ${violation}\n`);
    } finally {
      await connection.close();
      await store.drop();
    }
  }
  return rows;
}

async function main() {
  const pairsPerWorker = Number(process.argv[2] ?? 50);
  const named = process.argv[3]?.split(',');
  if (!Number.isInteger(pairsPerWorker) || pairsPerWorker < 1 || named?.some((s) => s !== 'sqlite' && s !== 'postgres')) {
    throw new Error('usage: npm run bench -- ledger [pairsPerWorker=50] [stores=sqlite,postgres]');
  }
  const stores: LedgerDialect[] = named ? (named as LedgerDialect[]) : ['sqlite', 'postgres'];
  if (stores.includes('postgres') && !(await postgresAvailable())) {
    const url = process.env[testEnv.postgresUrl] || defaultPostgresUrl;
    if (named) throw new Error(`PostgreSQL not reachable at ${url}`);
    process.stdout.write(`PostgreSQL not reachable at ${url}: SQLite only\n`);
    stores.pop();
  }

  const rows: Row[] = [];
  for (const store of stores) {
    for (const workload of ['hot', 'spread'] as const) rows.push(...(await benchStore(store, workload, pairsPerWorker)));
  }

  const f = (n: number, d = 2) => n.toFixed(d);
  const table = [
    '| store | workload | conc. | pairs | pairs/s | reserve p50 | reserve p99 | pair p99 | baseline tx/s | baseline p99 | ratio | admitted | clamped | refused | windows | overspend | violations |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.workload} | ${r.concurrency} | ${r.pairs} | ${f(r.pairsPerSecond, 0)} | ${f(r.reserveP50Ms)} ms | ${f(r.reserveP99Ms)} ms | ${f(r.pairP99Ms)} ms | ` +
        `${f(r.baselineTxPerSecond, 0)} | ${f(r.baselineP99Ms)} ms | ${f(r.ratioToBaseline)}× | ${r.admitted} | ${r.clamped} | ${r.refused} | ${r.windows} | ${r.overspend} | ${r.invariantViolations} |`,
    ),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  for (const pg16 of rows.filter((r) => r.store === 'postgres' && r.concurrency === 16)) {
    process.stdout.write(
      `\ntargets (PostgreSQL, ${pg16.workload}, c=16): reserve p99 ${f(pg16.reserveP99Ms)} ms (target < 5 ms: ${pg16.reserveP99Ms < 5 ? 'met' : 'MISSED'}), ` +
        `throughput ${f(pg16.ratioToBaseline)}× baseline (target ≥ 0.5×: ${pg16.ratioToBaseline >= 0.5 ? 'met' : 'MISSED'})\n`,
    );
  }
  for (const sqlite16 of rows.filter((r) => r.store === 'sqlite' && r.concurrency === 16)) {
    process.stdout.write(
      `\ntarget (SQLite, ${sqlite16.workload}, c=16): throughput ${f(sqlite16.ratioToBaseline)}× baseline ` +
        `(target ≥ 0.5×: ${sqlite16.ratioToBaseline >= 0.5 ? 'met' : 'MISSED'})\n`,
    );
  }
  const exact = rows.every((r) => r.overspend === 0 && r.invariantViolations === 0);
  // A limit nothing ran into proves nothing about overspend.
  const bound = rows.every((r) => r.clamped + r.refused > 0);
  process.stdout.write(`zero overspend: ${exact ? 'yes' : 'NO'}\n`);
  process.stdout.write(`limits bound (some reserves clamped or refused in every run): ${bound ? 'yes' : 'NO'}\n`);
  process.stdout.write(`results: ${writeResults('ledger', { rows })}\n`);
  if (!exact || !bound) process.exitCode = 1;
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});

import { sql } from 'kysely';
import {
  appliedLedgerMigrations,
  auditLogRetentionMs,
  auditPruneIntervalMs,
  ledgerMigrationNames,
  maxAuditPage,
  migrateLedger,
  migrateLedgerDown,
  type AuditRecord,
} from '../../src/ledger';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const day = 24 * 60 * 60_000;

function record(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    actor: 'ops',
    role: 'operator',
    tenantId: null,
    action: 'run.approve',
    target: 'run-1',
    outcome: 'succeeded',
    status: 200,
    errorCode: null,
    detail: null,
    requestId: 'req-1',
    ...overrides,
  };
}

describe.each(ledgerDialects())('audit log on %s', (dialect) => {
  let now: Date;
  let ledger: TestLedger;

  beforeEach(async () => {
    now = new Date('2026-11-27T12:00:00.000Z');
    ledger = await openTestLedger(dialect, { clock: () => now });
  });
  afterEach(async () => {
    await ledger.close();
  });

  const advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
  };

  it('records an entry and reads it back as it was written', async () => {
    const written = await ledger.repo.recordAudit(
      record({
        tenantId: 'acme',
        action: 'budget.policy.put',
        target: 'acme-daily',
        outcome: 'refused',
        status: 409,
        errorCode: 'conflict',
        detail: { metric: 'cost', hardLimit: 5_000_000 },
      }),
    );
    expect(written.at).toBe('2026-11-27T12:00:00.000Z');
    expect((await ledger.repo.listAudit({ limit: 10 })).items).toEqual([
      {
        id: written.id,
        at: '2026-11-27T12:00:00.000Z',
        actor: 'ops',
        role: 'operator',
        tenantId: 'acme',
        action: 'budget.policy.put',
        target: 'acme-daily',
        outcome: 'refused',
        status: 409,
        errorCode: 'conflict',
        detail: { metric: 'cost', hardLimit: 5_000_000 },
        requestId: 'req-1',
      },
    ]);
  });

  it('lists newest first and filters by actor, action and time', async () => {
    await ledger.repo.recordAudit(record({ actor: 'ops', action: 'run.approve', target: 'a' }));
    advance(60_000);
    await ledger.repo.recordAudit(record({ actor: 'sre', action: 'incident.approve', target: 'b' }));
    advance(60_000);
    await ledger.repo.recordAudit(record({ actor: 'ops', action: 'run.deny', target: 'c' }));

    const targets = async (query: Parameters<TestLedger['repo']['listAudit']>[0]) =>
      (await ledger.repo.listAudit(query)).items.map((entry) => entry.target);
    expect(await targets({ limit: 10 })).toEqual(['c', 'b', 'a']);
    expect(await targets({ limit: 10, actor: 'ops' })).toEqual(['c', 'a']);
    expect(await targets({ limit: 10, action: 'incident.approve' })).toEqual(['b']);
    expect(await targets({ limit: 10, actor: 'ops', action: 'run.deny' })).toEqual(['c']);
    expect(await targets({ limit: 10, since: '2026-11-27T12:01:00.000Z' })).toEqual(['c', 'b']);
    expect(await targets({ limit: 10, until: '2026-11-27T12:01:00.000Z' })).toEqual(['a']);
    expect(await targets({ limit: 10, since: '2026-11-27T12:01:00.000Z', until: '2026-11-27T12:02:00.000Z' })).toEqual(['b']);
    expect(await targets({ limit: 10, actor: 'nobody' })).toEqual([]);
  });

  it('pages through entries that share a timestamp without skipping or repeating one', async () => {
    // Seven entries in the same millisecond and three later: ties are broken by id.
    for (let i = 0; i < 7; i++) await ledger.repo.recordAudit(record({ target: `same-${i}` }));
    for (let i = 0; i < 3; i++) {
      advance(1);
      await ledger.repo.recordAudit(record({ target: `later-${i}` }));
    }
    const all = (await ledger.repo.listAudit({ limit: 100 })).items;
    expect(all).toHaveLength(10);

    const paged: string[] = [];
    let page = await ledger.repo.listAudit({ limit: 3 });
    paged.push(...page.items.map((entry) => entry.id));
    while (page.next) {
      page = await ledger.repo.listAudit({ limit: 3, after: page.next });
      paged.push(...page.items.map((entry) => entry.id));
    }
    expect(paged).toEqual(all.map((entry) => entry.id));
    expect(all.slice(0, 3).map((entry) => entry.target)).toEqual(['later-2', 'later-1', 'later-0']);
  });

  it('answers at most maxAuditPage entries however large a limit is asked for', async () => {
    const rows = Array.from({ length: maxAuditPage + 5 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      at: now.toISOString(),
      actor: 'ops',
      role: 'operator',
      tenant_id: null,
      action: 'run.cancel',
      target: `run-${i}`,
      outcome: 'succeeded',
      status: 202,
      error_code: null,
      detail: null,
      request_id: `req-${i}`,
    }));
    await ledger.connection.db.insertInto('audit_log').values(rows).execute();
    const page = await ledger.repo.listAudit({ limit: 10_000 });
    expect(page.items).toHaveLength(maxAuditPage);
    expect(page.next).not.toBeNull();
  });

  it('deletes entries past the retention bound on an insert, at most once per prune interval', async () => {
    await ledger.repo.recordAudit(record({ target: 'old' }));
    advance(auditLogRetentionMs + day);
    await ledger.repo.recordAudit(record({ target: 'new' }));
    expect((await ledger.repo.listAudit({ limit: 10 })).items.map((entry) => entry.target)).toEqual(['new']);

    // Within the interval an insert does not prune again; after it, it does.
    const stale = record({ target: 'stale' });
    await ledger.connection.db
      .insertInto('audit_log')
      .values({
        id: '00000000-0000-4000-8000-000000000001',
        at: new Date(now.getTime() - auditLogRetentionMs - day).toISOString(),
        actor: stale.actor,
        role: stale.role,
        tenant_id: null,
        action: stale.action,
        target: stale.target,
        outcome: stale.outcome,
        status: stale.status,
        error_code: null,
        detail: null,
        request_id: stale.requestId,
      })
      .execute();
    advance(auditPruneIntervalMs / 2);
    await ledger.repo.recordAudit(record({ target: 'newer' }));
    expect((await ledger.repo.listAudit({ limit: 10 })).items.map((entry) => entry.target)).toContain('stale');
    advance(auditPruneIntervalMs);
    await ledger.repo.recordAudit(record({ target: 'newest' }));
    expect((await ledger.repo.listAudit({ limit: 10 })).items.map((entry) => entry.target)).toEqual(['newest', 'newer', 'new']);
  });

  it('keeps a detail short: an oversized one is replaced by a note that it was cut', async () => {
    await ledger.repo.recordAudit(record({ detail: { blob: 'x'.repeat(10_000) } }));
    const [entry] = (await ledger.repo.listAudit({ limit: 1 })).items;
    expect(entry?.detail).toEqual({ truncated: true, length: expect.any(Number) });
  });

  // On SQLite only: dropping a table on PostgreSQL while other test files' migrators read the catalog of
  // every schema makes theirs fail ("relation … does not exist"), as dropping schemas does
  // (test/support/ledger.ts). The down step is the same DDL on both stores.
  const onSqlite = dialect === 'sqlite' ? it : () => undefined;
  onSqlite('0007_audit_log can be undone and applied again', async () => {
    const db = ledger.connection.db;
    await ledger.repo.recordAudit(record());
    // Migrations are undone newest first: those after it go before it.
    const newer = ledgerMigrationNames.slice(ledgerMigrationNames.indexOf('0007_audit_log') + 1);
    for (const name of newer.reverse()) expect(await migrateLedgerDown(db as never, dialect)).toBe(name);
    expect(await migrateLedgerDown(db as never, dialect)).toBe('0007_audit_log');
    expect(await appliedLedgerMigrations(db as never, dialect)).not.toContain('0007_audit_log');
    const afterDown = await sql`select count(*) from audit_log`.execute(db).then(
      () => 'the table is still there',
      (error: Error) => error.message,
    );
    expect(afterDown).toMatch(/no such table: audit_log|relation "audit_log" does not exist/);

    await migrateLedger(db as never, dialect);
    expect(await appliedLedgerMigrations(db as never, dialect)).toContain('0007_audit_log');
    expect((await ledger.repo.listAudit({ limit: 10 })).items).toEqual([]);
    await ledger.repo.recordAudit(record({ target: 'after' }));
    expect((await ledger.repo.listAudit({ limit: 10 })).items.map((entry) => entry.target)).toEqual(['after']);
  });
});

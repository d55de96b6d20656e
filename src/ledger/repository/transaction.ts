import { sql } from 'kysely';
import type { LedgerDialect } from '../database';
import type { Db, LedgerContext } from './context';

/** PostgreSQL: deadlock detected, serialization failure, lock not available (lock_timeout). */
const contentionCodes = new Set(['40P01', '40001', '55P03']);
const maxTransactionAttempts = 6;

export function createWriteTransaction(db: Db, dialect: LedgerDialect): Pick<LedgerContext, 'writeTransaction' | 'afterCommit'> {
  const commitHooks = new WeakMap<Db, (() => void)[]>();

  /**
   * One write transaction. SQLite: BEGIN IMMEDIATE takes the write lock up front, so two
   * processes never both read the same headroom. PostgreSQL: the window rows are locked with
   * SELECT … FOR UPDATE inside the transaction (see lockWindows in windows.ts).
   */
  async function writeTransaction<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return retryingContention(() => writeTransactionOnce(fn));
  }

  async function writeTransactionOnce<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    const committed: (() => void)[] = [];
    const run = async (trx: Db) => {
      commitHooks.set(trx, committed);
      return fn(trx);
    };
    const result =
      dialect === 'postgres'
        ? await db.transaction().execute(run)
        : await db.connection().execute(async (conn) => {
            await sql`begin immediate`.execute(conn);
            try {
              const value = await run(conn);
              await sql`commit`.execute(conn);
              return value;
            } catch (error) {
              await sql`rollback`.execute(conn);
              throw error;
            }
          });
    committed.forEach((hook) => hook());
    return result;
  }

  function afterCommit(trx: Db, hook: () => void): void {
    const hooks = commitHooks.get(trx);
    if (hooks) hooks.push(hook);
    // A statement run on the connection itself, outside any transaction, has committed already.
    else if (trx === db) hook();
  }

  return { writeTransaction, afterCommit };
}

/**
 * Runs a whole transaction, or one statement that is its own transaction, again when a deadlock, a
 * lock wait past lock_timeout or a serialization failure rolled it back (it re-reads everything),
 * so callers never see them.
 */
export async function retryingContention<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= maxTransactionAttempts || !isContention(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

function isContention(error: unknown): boolean {
  return contentionCodes.has((error as { code?: string } | null)?.code ?? '');
}

export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

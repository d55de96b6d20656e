import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { PalyraConfig } from '../config';
import { openLedger, type LedgerConnection } from '../ledger/database';
import { createLedgerRepository, type LedgerRepository } from '../ledger';
import { assertReachable } from '../temporal/client';

/** How long the doctor waits for Temporal or the ledger before calling it unreachable. */
export const doctorConnectTimeoutMs = 3_000;

export type Reached<T> = { ok: true; value: T; latencyMs: number } | { ok: false; error: string };

/**
 * What the doctor looks at, opened lazily and at most once: a check that needs Temporal connects,
 * the others never do. Opening changes nothing: the ledger is not created or migrated (a SQLite
 * file that does not exist is reported, not made), no search attribute is registered.
 */
export interface DoctorEnvironment {
  config: PalyraConfig;
  /** The Temporal frontend the config points at (the embedded dev server's when no address is set). */
  address: string;
  /** No `temporal.address`: Palyra runs its own dev server (`npm start`). */
  embedded: boolean;
  temporal(): Promise<Reached<{ client: Client; connection: Connection }>>;
  ledger(): Promise<Reached<{ connection: LedgerConnection; repo: LedgerRepository }>>;
  close(): Promise<void>;
}

export function openDoctorEnvironment(config: PalyraConfig): DoctorEnvironment {
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
  let temporal: Promise<Reached<{ client: Client; connection: Connection }>> | undefined;
  let ledger: Promise<Reached<{ connection: LedgerConnection; repo: LedgerRepository }>> | undefined;

  return {
    config,
    address,
    embedded: config.temporal.address === undefined,
    temporal() {
      temporal ??= timed(async () => {
        await assertReachable(address, doctorConnectTimeoutMs);
        const connection = await Connection.connect({ address, connectTimeout: doctorConnectTimeoutMs });
        return { connection, client: new Client({ connection, namespace: config.temporal.namespace }) };
      });
      return temporal;
    },
    ledger() {
      ledger ??= timed(async () => {
        if (config.database.url === undefined) {
          const file = path.join(config.dataDir, 'ledger.db');
          if (!fs.existsSync(file)) throw new Error(`no ledger at ${file}: Palyra creates it at its first start`);
        }
        const connection = openLedger({ databaseUrl: config.database.url, dataDir: config.dataDir, poolSize: 2 });
        try {
          await connection.db
            .selectFrom('ledger_meta' as never)
            .select('key' as never)
            .limit(1)
            .execute();
        } catch (error) {
          // A ledger never migrated has no tables yet: reachable all the same.
          if (!/no such table|does not exist/i.test((error as Error).message)) {
            await connection.close();
            throw error;
          }
        }
        return { connection, repo: createLedgerRepository({ connection }) };
      });
      return ledger;
    },
    async close() {
      const [reachedTemporal, reachedLedger] = await Promise.all([temporal, ledger]);
      if (reachedTemporal?.ok) await reachedTemporal.value.connection.close().catch(() => undefined);
      if (reachedLedger?.ok) await reachedLedger.value.connection.close().catch(() => undefined);
    },
  };
}

async function timed<T>(open: () => Promise<T>): Promise<Reached<T>> {
  const started = Date.now();
  try {
    const value = await open();
    return { ok: true, value, latencyMs: Date.now() - started };
  } catch (error) {
    return { ok: false, error: (error as Error).message.split('\n')[0] ?? String(error) };
  }
}

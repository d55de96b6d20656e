import fs from 'node:fs';
import path from 'node:path';
import type { PalyraConfig } from '../../src/config';
import { recoveryRunsDir, type RecoveryManifest } from '../../src/doctor';

/**
 * A recovery run as `repair_apply` writes it under the config's data dir: one hold expired, which
 * cannot be undone. Answers its manifest's path.
 */
export function writeRecoveryRun(config: Pick<PalyraConfig, 'dataDir'>, runId: string): string {
  const manifestPath = path.join(recoveryRunsDir(config), runId, 'manifest.json');
  const manifest: RecoveryManifest = {
    schemaVersion: 1,
    runId,
    startedAt: '2026-12-01T08:00:00.000Z',
    finishedAt: '2026-12-01T08:00:01.000Z',
    planHash: '0123456789abcdef',
    steps: [
      {
        step: {
          repair: 'expire_holds',
          title: 'expire holds past their expiry',
          touches: 'reservation run-1',
          blastRadius: 'one hold',
          risky: false,
          target: { reservationIds: ['run-1'] },
        },
        change: 'modified',
        detail: 'expired 1 hold(s)',
        before: { pending: ['run-1'] },
        after: { expired: ['run-1'] },
        notUndoable: 'an expired hold is closed in the ledger for good',
      },
    ],
    rollbacks: [],
  };
  fs.mkdirSync(path.dirname(manifestPath), { recursive: true });
  fs.writeFileSync(manifestPath, JSON.stringify(manifest));
  return manifestPath;
}

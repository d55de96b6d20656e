import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { writeRecoveryRun } from '../support/doctor';

/**
 * Doctor jobs from the console: started by POST, read back by id, with the report `palyra doctor
 * --json` prints. Applying repairs is for admins only.
 */
let stack: TestStack;
let app: FastifyInstance;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-doctor-jobs-'));
beforeAll(async () => {
  stack = await openTestStack({ dataDir });
  app = stack.app;
});
afterAll(async () => {
  await stack?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const start = (payload: Record<string, unknown>, token = testTokens.operator) =>
  app.inject({ method: 'POST', url: '/console/v1/doctor/jobs', headers: bearer(token), payload });

async function finished(jobId: string) {
  for (let i = 0; i < 200; i++) {
    const job = (
      await app.inject({ method: 'GET', url: `/console/v1/doctor/jobs/${jobId}`, headers: bearer(testTokens.operator) })
    ).json();
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    await delay(100);
  }
  throw new Error(`doctor job ${jobId} did not finish`);
}

describe('doctor jobs', () => {
  it('runs diagnostics and a repair preview and answers the report', async () => {
    const started = await start({ mode: 'diagnostics' });
    expect(started.statusCode).toBe(202);
    expect(started.json()).toMatchObject({ mode: 'diagnostics', requestedBy: 'operator' });
    const job = await finished(started.json().jobId);
    expect(job).toMatchObject({ state: 'succeeded', report: { schemaVersion: 1, mode: 'diagnostics' } });
    expect(job.report.checks.map((check: { id: string }) => check.id)).toContain('supervisor_schedule');

    const preview = await finished((await start({ mode: 'repair_preview' })).json().jobId);
    expect(preview.report.plan).toEqual({ steps: expect.any(Array), hash: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });

  it('applying repairs needs an admin; bad input and unknown jobs get clear errors', async () => {
    const refused = await start({ mode: 'repair_apply' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toContain('repair_apply needs admin');
    expect((await start({ mode: 'repair_apply', planHash: 'nothex' }, testTokens.admin)).statusCode).toBe(400);
    expect((await start({ mode: 'explode' })).statusCode).toBe(400);
    expect((await start({ mode: 'diagnostics' }, testTokens.acmeService)).statusCode).toBe(403);
    const unknown = await app.inject({
      method: 'GET',
      url: '/console/v1/doctor/jobs/00000000-0000-4000-8000-000000000000',
      headers: bearer(testTokens.operator),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('previews a rollback of a recovery run for an operator, and undoes it only for an admin', async () => {
    // A recovery run as repair_apply writes it: one hold expired, which cannot be undone.
    const runId = '2026-12-01T08-00-00-000Z-abc123';
    const manifestPath = writeRecoveryRun(stack.config, runId);

    const preview = await finished((await start({ mode: 'rollback_preview', runId })).json().jobId);
    expect(preview).toMatchObject({
      state: 'succeeded',
      recoveryRunId: runId,
      report: {
        mode: 'rollback_preview',
        rollback: {
          runId,
          steps: [{ repair: 'expire_holds', outcome: 'not_undoable', detail: expect.stringContaining('for good') }],
        },
      },
    });
    expect(JSON.parse(fs.readFileSync(manifestPath, 'utf8')).rollbacks).toEqual([]); // a preview writes nothing

    const refused = await start({ mode: 'rollback_apply', runId });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toContain('rollback_apply needs admin');
    const applied = await finished((await start({ mode: 'rollback_apply', runId }, testTokens.admin)).json().jobId);
    expect(applied).toMatchObject({ state: 'succeeded', report: { mode: 'rollback_apply', rollback: { runId } } });
    expect(JSON.parse(fs.readFileSync(manifestPath, 'utf8')).rollbacks).toEqual([
      expect.objectContaining({ force: false, steps: [expect.objectContaining({ outcome: 'not_undoable' })] }),
    ]);

    // A run that does not exist fails the job naming it; a run id that is a path, or none, is a 400.
    const unknown = await finished((await start({ mode: 'rollback_preview', runId: 'no-such-run' })).json().jobId);
    expect(unknown).toMatchObject({ state: 'failed', error: expect.stringContaining('no recovery run no-such-run') });
    expect((await start({ mode: 'rollback_preview', runId: '../../etc' })).statusCode).toBe(400);
    expect((await start({ mode: 'rollback_preview' })).statusCode).toBe(400);
    expect((await start({ mode: 'diagnostics', runId })).statusCode).toBe(400);

    // The jobs are listed newest first: the failed preview of the unknown run leads.
    const listed = await app.inject({ method: 'GET', url: '/console/v1/doctor/jobs', headers: bearer(testTokens.operator) });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items[0]).toMatchObject({ jobId: unknown.jobId, state: 'failed' });
    expect(listed.json().items.map((job: { jobId: string }) => job.jobId)).toEqual(
      expect.arrayContaining([preview.jobId, applied.jobId]),
    );
  });
});

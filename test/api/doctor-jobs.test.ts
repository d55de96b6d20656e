import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';

/**
 * Doctor jobs from the console: started by POST, read back by id, with the report `palyra doctor
 * --json` prints. Applying repairs is for admins only.
 */
let stack: TestStack;
let app: FastifyInstance;
beforeAll(async () => {
  stack = await openTestStack();
  app = stack.app;
});
afterAll(() => stack?.close());

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
});

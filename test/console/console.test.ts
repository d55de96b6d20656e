import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { consoleBuildDir } from '../../src/api/console/routes';
import { buildServer } from '../../src/api/server';
import type { PalyraConfig } from '../../src/config';
import type { RecoveryManifest } from '../../src/doctor';
import { launchChromium } from '../support/browser';
import { writeRecoveryRun } from '../support/doctor';
import { approvalWaitingFinding, openIncident } from '../support/incident-findings';
import { openTestLedger, type TestLedger } from '../support/ledger';
import {
  composeTestServices,
  connectTestClient,
  startSupervisorTestWorker,
  startTestWorker,
  testConfig,
} from '../support/temporal';

/**
 * The operations console (the React app under console/, built by Vite) in Debian's Chromium against the
 * real stack: the API on a free port, a run worker and a supervisor worker on the shared dev server, a
 * SQLite ledger. Each case does what an operator would and asserts on what the page shows.
 * Screenshots of every page at both viewports go to test-output/console/ (gitignored).
 */
const tokens = {
  admin: 'console-admin-token-0123456789',
  operator: 'console-operator-token-0123456789',
};
const screenshotDir = path.resolve(__dirname, '..', '..', 'test-output', 'console');
const desktop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };

let connection: Connection;
let client: Client;
let config: PalyraConfig;
let app: FastifyInstance;
let baseUrl: string;
let browser: BrowserContext;
let closeBrowser: () => Promise<void>;
let ledger: TestLedger;
let runWorker: { stop(): Promise<void> };
let supervisorWorker: { stop(): Promise<void> };
const pageErrors: string[] = [];
// A data dir of its own: the doctor's recovery runs are written and rolled back under it.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-console-'));

beforeAll(async () => {
  // The app is built by `npm install` (prepare); build it here when a checkout has not been installed since.
  if (!fs.existsSync(path.join(consoleBuildDir, 'index.html'))) {
    execFileSync('npm', ['run', 'build:console'], { cwd: path.resolve(__dirname, '..', '..'), stdio: 'ignore' });
  }
  fs.mkdirSync(screenshotDir, { recursive: true });
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  // The tokens are in the config too, so the diagnostics page can show them redacted.
  config = testConfig({
    dataDir,
    server: { port: 1 },
    auth: {
      tokens: [
        { name: 'ops-admin', token: tokens.admin, role: 'admin', tenants: ['*'] },
        { name: 'ops-operator', token: tokens.operator, role: 'operator', tenants: ['*'] },
      ],
    },
  });
  app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: 'http://temporal-ui.test:8233' },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  [runWorker, supervisorWorker] = await Promise.all([
    startTestWorker(config, ledger.repo),
    startSupervisorTestWorker(config, ledger.repo),
  ]);
  ({ browser, close: closeBrowser } = await launchChromium());
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await runWorker?.stop();
  await supervisorWorker?.stop();
  await app?.close();
  await connection?.close();
  await ledger?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

async function newPage(viewport = desktop): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // A CSP violation or a failed script shows here first.
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
  });
  return page;
}

async function signIn(page: Page, token = tokens.admin, at = '/console'): Promise<void> {
  await page.goto(`${baseUrl}${at}`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console sections' }).waitFor();
}

async function shoot(page: Page, name: string): Promise<void> {
  const size = page.viewportSize();
  await page.screenshot({ path: path.join(screenshotDir, `${name}-${size?.width}x${size?.height}.png`), fullPage: true });
}

/** Polls what the page shows until `check` holds (the console refreshes on its own timers). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Confirms the open dialog, with a note when it asks for one. */
async function confirm(page: Page, button: string, note?: string): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  if (note !== undefined) await dialog.getByLabel('Note (kept with the decision)').fill(note);
  await dialog.getByRole('button', { name: button }).click();
  await dialog.waitFor({ state: 'hidden' });
}

async function startRunFromConsole(
  page: Page,
  fields: { tenant: string; outputTokens: number; chunkDelayMs?: number; tasks?: number; taskChunkDelayMs?: number },
): Promise<string> {
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await page.getByText('Start a simulated run').click();
  const form = page.getByRole('form', { name: 'Start a simulated run' });
  await form.getByLabel('Tenant').fill(fields.tenant);
  await form.getByLabel('Output tokens').fill(String(fields.outputTokens));
  await form.getByLabel('Delay per token (ms)', { exact: true }).fill(String(fields.chunkDelayMs ?? 10));
  await form.getByLabel('Summary tasks (one at a time)').fill(String(fields.tasks ?? 0));
  await form.getByLabel('Task delay per token (ms)').fill(String(fields.taskChunkDelayMs ?? 10));
  await form.getByRole('button', { name: 'Start run' }).click();
  await page.waitForURL(/\/console\/runs\/[0-9a-f-]{36}$/);
  return page.url().split('/').pop() as string;
}

async function waitForRunState(page: Page, state: string, timeout = 45_000): Promise<void> {
  await page.locator(`.run[data-state="${state}"]`).waitFor({ timeout });
}

async function previewRollbackFromConsole(page: Page, runId: string): Promise<void> {
  await page.getByRole('link', { name: 'Doctor', exact: true }).click();
  const form = page.getByRole('form', { name: 'Roll back a recovery run' });
  await form.getByLabel('Recovery run id').fill(runId);
  await form.getByRole('button', { name: 'Preview rollback' }).click();
  await page.locator('.doctor-job[data-mode="rollback_preview"][data-state="succeeded"]').waitFor({ timeout: 30_000 });
}

async function createPolicyFromConsole(
  page: Page,
  policy: { id: string; tenant: string; hardUsd: string; softUsd?: string; action?: string },
): Promise<void> {
  await page.getByRole('link', { name: 'Budgets', exact: true }).click();
  await page.getByRole('button', { name: 'New policy' }).click();
  const form = page.getByRole('form', { name: 'New policy' });
  await form.getByLabel('Policy id').fill(policy.id);
  await form.getByRole('combobox', { name: /^Scope/ }).selectOption('tenant');
  await form.getByLabel(/^Scope id/).fill(policy.tenant);
  await form.getByLabel(/^Hard limit/).fill(policy.hardUsd);
  if (policy.softUsd) await form.getByLabel(/^Soft limit/).fill(policy.softUsd);
  await form.getByLabel('Action at the hard limit').selectOption(policy.action ?? 'block');
  await form.getByRole('button', { name: 'Save policy' }).click();
  await page.locator(`article[data-policy="${policy.id}"]`).waitFor();
}

describe('operations console (Chromium, real stack)', () => {
  it('asks for a token, shows the API’s refusal of a wrong one, and keeps a good one out of the URL', async () => {
    const page = await newPage();
    try {
      await page.goto(`${baseUrl}/console/runs`);
      await page.getByLabel('API token').fill('wrong-token-0123456789');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').getByText('unauthorized: invalid bearer token').waitFor();
      await shoot(page, 'login');

      await page.getByLabel('API token').fill(tokens.admin);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
      expect(await page.getByTestId('who').innerText()).toBe('ops-admin · admin · all tenants');
      expect(page.url()).not.toContain(tokens.admin);
      expect(await page.evaluate("sessionStorage.getItem('palyra.token')")).toBe(tokens.admin);

      // A reload keeps the page and the session (same tab); an unknown page says so.
      await page.reload();
      await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
      await page.goto(`${baseUrl}/console/nowhere`);
      await page.getByRole('heading', { name: 'Not found' }).waitFor();
    } finally {
      await page.close();
    }
  });

  it('starts a run and watches it finish on its page, with routing, estimate, reservation and the Temporal link', async () => {
    const page = await newPage();
    try {
      await signIn(page);
      const runId = await startRunFromConsole(page, { tenant: 'acme', outputTokens: 12, chunkDelayMs: 150 });
      // Live refresh: the page follows the run without a reload.
      await page.locator('.run[data-state="running"], .run[data-state="succeeded"]').first().waitFor({ timeout: 30_000 });
      await waitForRunState(page, 'succeeded');
      expect((await page.getByTestId('run-output').innerText()).split(' ')).toHaveLength(12);
      const link = page.getByRole('link', { name: `run-${runId} in the Temporal UI` });
      expect(await link.getAttribute('href')).toMatch(
        new RegExp(`^http://temporal-ui\\.test:8233/namespaces/default/workflows/run-${runId}/[0-9a-f-]+/history$`),
      );
      const routing = page.locator('section', { has: page.getByRole('heading', { name: 'Routing' }) });
      expect(await routing.getByRole('table', { name: 'Candidates' }).locator('tbody tr').count()).toBeGreaterThan(0);
      expect(await routing.innerText()).toContain('sim-standard');
      const admission = await page
        .locator('section', { has: page.getByRole('heading', { name: 'Estimate and reservation' }) })
        .innerText();
      expect(admission).toMatch(/admitted on sim-standard/);
      expect(admission).toContain(`run-${runId}`);
      expect(await page.locator('section', { has: page.getByRole('heading', { name: 'Usage and cost' }) }).innerText()).toMatch(
        /in \/ 12 out/,
      );
      // A finished run offers no cancel.
      expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
      await shoot(page, 'run');

      // The list finds it by its filters, and says so when nothing matches.
      await page.getByRole('link', { name: 'All runs' }).click();
      const filters = page.getByRole('form', { name: 'Filter runs' });
      await filters.getByLabel('Tenant').fill('acme');
      await filters.getByLabel('State').selectOption('succeeded');
      await filters.getByLabel('Task class').selectOption('primary_interactive');
      await filters.getByRole('button', { name: 'Apply filters' }).click();
      await page.locator(`tr[data-run-id="${runId}"]`).waitFor();
      expect(page.url()).toContain('state=succeeded');
      await shoot(page, 'runs');
      await filters.getByLabel('Tenant').fill('nobody-here');
      await filters.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('No runs match these filters.').waitFor();
    } finally {
      await page.close();
    }
  });

  it('parks a run on an approval budget and approves it from the run page', async () => {
    const page = await newPage();
    try {
      await signIn(page);
      await createPolicyFromConsole(page, {
        id: 'gated-co-daily',
        tenant: 'gated-co',
        hardUsd: '0',
        action: 'approval_required',
      });
      const runId = await startRunFromConsole(page, { tenant: 'gated-co', outputTokens: 5 });
      await waitForRunState(page, 'awaiting_approval');
      expect(await page.getByText(/Policy gated-co-daily \(approval required/).count()).toBe(1);
      await shoot(page, 'run-awaiting-approval');

      await page.getByRole('button', { name: 'Approve' }).click();
      await confirm(page, 'Approve', 'checked with the gated-co owner');
      await waitForRunState(page, 'succeeded');
      expect(await page.locator('.facts').first().innerText()).toContain('approved by ops-admin');
      expect(await page.locator('.facts').first().innerText()).toContain('checked with the gated-co owner');

      // The approval is in the audit log, found by its filters.
      await page.getByRole('link', { name: 'Audit', exact: true }).click();
      const filters = page.getByRole('form', { name: 'Filter the audit log' });
      await filters.getByLabel('Action').selectOption('run.approve');
      await filters.getByLabel('Who (token name)').fill('ops-admin');
      await filters.getByRole('button', { name: 'Apply filters' }).click();
      const rows = page.locator('tbody tr[data-action]');
      await page.locator('tbody tr[data-action="run.approve"]', { hasText: runId }).waitFor();
      expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')))).toEqual(
        expect.arrayContaining(['run.approve']),
      );
      expect(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action'))))).toEqual(
        new Set(['run.approve']),
      );
      await shoot(page, 'audit');
    } finally {
      await page.close();
    }
  });

  it('pauses a queued task (its illegal actions disabled with the reason) and cancels a run with tasks', async () => {
    const page = await newPage();
    try {
      await signIn(page);
      await startRunFromConsole(page, { tenant: 'acme', outputTokens: 300, chunkDelayMs: 100, tasks: 3, taskChunkDelayMs: 100 });
      await waitForRunState(page, 'running');
      const rows = page.locator('tr[data-task-id]');
      await rows.nth(2).waitFor();
      const third = rows.nth(2);
      expect(await third.getAttribute('data-state')).toBe('queued');
      // A queued task cannot be resumed or retried: the buttons say why.
      expect(await third.getByRole('button', { name: 'Resume' }).isDisabled()).toBe(true);
      expect(await third.getByRole('button', { name: 'Resume' }).getAttribute('title')).toBe(
        'resume only from paused; this task is queued',
      );
      await third.getByRole('button', { name: 'Pause' }).click();
      await confirm(page, 'Pause');
      await page.locator('tr[data-task-id][data-state="paused"]').waitFor();
      expect(await third.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
      await shoot(page, 'run-with-tasks');

      await page.getByRole('button', { name: 'Cancel run' }).click();
      await confirm(page, 'Cancel run');
      await waitForRunState(page, 'cancelled');
      await until(
        async () => (await page.locator('tr[data-task-id][data-state="cancelled"]').count()) === 3,
        'every task cancelled',
      );
      expect(await rows.count()).toBe(3);

      // The Tasks page lists the run among those with tasks; the task page shows why retry is the only move left.
      await page.getByRole('link', { name: 'Tasks', exact: true }).click();
      await page.getByRole('heading', { name: 'Recent runs with background tasks' }).waitFor();
      await page.locator('table tbody tr').first().waitFor();
      await shoot(page, 'tasks');
    } finally {
      await page.close();
    }
  });

  it('acts on an incident: evidence, remediation with risk and blast radius, then resolved with a note', async () => {
    const incidentId = await openIncident(client, config.temporal.supervisorTaskQueue, approvalWaitingFinding('acme'));
    const page = await newPage();
    try {
      await signIn(page);
      await page.getByRole('link', { name: 'Incidents', exact: true }).click();
      await page.getByRole('form', { name: 'Filter incidents' }).getByLabel('Detector').selectOption('approval_waiting');
      await page.locator(`tr[data-incident-id="${incidentId}"]`).waitFor({ timeout: 20_000 });
      await shoot(page, 'incidents');
      await page.locator(`tr[data-incident-id="${incidentId}"] a`).click();
      await page.locator('.incident[data-state="awaiting_approval"]').waitFor({ timeout: 20_000 });
      const remediation = await page
        .locator('section', { has: page.getByRole('heading', { name: 'Remediation offered' }) })
        .innerText();
      expect(remediation).toMatch(/deny_approval/);
      expect(remediation).toMatch(/medium/);
      expect(await page.locator('pre[aria-label="Evidence"]').innerText()).toContain('"waitingForMs": 720000');
      // Retry is for failed remediations only.
      expect(await page.getByRole('button', { name: 'Retry' }).isDisabled()).toBe(true);
      await shoot(page, 'incident');

      await page.getByRole('button', { name: 'Resolve' }).click();
      await confirm(page, 'Resolve', 'handled by hand in the console test');
      await page.locator('.incident[data-state="resolved"]').waitFor({ timeout: 20_000 });
      expect(await page.getByRole('button', { name: 'Resolve' }).isDisabled()).toBe(true);
      await page.getByText('handled by hand in the console test').first().waitFor();
    } finally {
      await page.close();
    }
  });

  it('edits a policy and its bar moves, on the budgets page and on the overview', async () => {
    const page = await newPage();
    try {
      await signIn(page);
      await createPolicyFromConsole(page, { id: 'bar-co-daily', tenant: 'bar-co', hardUsd: '1' });
      await startRunFromConsole(page, { tenant: 'bar-co', outputTokens: 40 });
      await waitForRunState(page, 'succeeded');

      await page.getByRole('link', { name: 'Budgets', exact: true }).click();
      const policy = page.locator('article[data-policy="bar-co-daily"]');
      const bar = policy.locator('.bar');
      await until(async () => Number(await bar.getAttribute('data-utilization')) > 0, 'the run’s spend in the bar');
      const before = Number(await bar.getAttribute('data-utilization'));
      expect(before).toBeLessThan(0.5);
      // Under a $1 limit the utilization is the spend in dollars: a new hard limit just above it, a soft one below.
      const committedMicroUsd = Math.round(before * 1e6);

      await policy.getByRole('button', { name: 'Edit' }).click();
      const form = page.getByRole('form', { name: 'Edit policy bar-co-daily' });
      await form.getByLabel(/^Hard limit/).fill((Math.ceil(committedMicroUsd * 1.25) / 1e6).toFixed(6));
      await form.getByLabel(/^Soft limit/).fill((Math.floor(committedMicroUsd / 2) / 1e6).toFixed(6));
      await form.getByRole('button', { name: 'Save policy' }).click();
      await until(async () => Number(await bar.getAttribute('data-utilization')) > 0.5, 'the bar to move');
      expect(await policy.locator('.chip', { hasText: 'soft limit' }).count()).toBe(1);
      await shoot(page, 'budgets');

      // The overview shows the policy past its soft limit at the top, its bar, and today's spend.
      await page.getByRole('link', { name: 'Overview', exact: true }).click();
      await page.getByRole('link', { name: /Policy bar-co-daily is past its soft limit/ }).waitFor();
      await page.locator('#policy-bar-co-daily .bar').waitFor();
      await page.getByText(/^Today, per hour \(UTC\): \$0\.\d+ in all$/).waitFor();
      expect(await page.locator('.legend').first().innerText()).toContain('bar-co');
      await shoot(page, 'overview');
    } finally {
      await page.close();
    }
  });

  it('runs a doctor repair preview and shows the checks and the plan; diagnostics shows every section', async () => {
    const page = await newPage();
    try {
      await signIn(page);
      await page.getByRole('link', { name: 'Doctor', exact: true }).click();
      await page.getByRole('button', { name: 'Preview repairs' }).click();
      await page.locator('.doctor-job[data-mode="repair_preview"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('plan-hash').innerText()).toMatch(/^[0-9a-f]{16}$/);
      expect(await page.locator('.doctor-job table tbody tr').count()).toBeGreaterThan(5);
      expect(await page.getByText(/\d+ of \d+ checks passed/).count()).toBe(1);
      await shoot(page, 'doctor');

      await page.getByRole('link', { name: 'Diagnostics', exact: true }).click();
      await page.locator('.section-card').nth(9).waitFor({ timeout: 20_000 });
      expect(await page.locator('.section-card').count()).toBe(10);
      await page.locator('#section-config').getByText('Raw JSON').click();
      const config = await page.locator('#section-config pre').innerText();
      expect(config).toContain('[redacted]');
      expect(config).not.toContain(tokens.admin);
      await shoot(page, 'diagnostics');
    } finally {
      await page.close();
    }
  }, 90_000);

  it('previews a recovery run’s rollback for an operator and applies it for an admin; the overview names a failed job', async () => {
    const runId = '2026-12-01T08-00-00-000Z-console';
    const manifestPath = writeRecoveryRun(config, runId);
    const rollbacks = () => (JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as RecoveryManifest).rollbacks;
    const operator = await newPage();
    const admin = await newPage();
    try {
      // An operator previews: each step with its outcome and why; nothing is written, and nothing offers to apply.
      await signIn(operator, tokens.operator);
      await previewRollbackFromConsole(operator, runId);
      const previewed = operator.locator('.doctor-job[data-mode="rollback_preview"]');
      await previewed.getByRole('heading', { name: `Rollback preview of recovery run ${runId}` }).waitFor();
      const previewedSteps = previewed.locator('tr[data-outcome]');
      expect(await previewedSteps.count()).toBe(1);
      expect(await previewedSteps.innerText()).toMatch(
        /^expire_holds\s+not undoable\s+an expired hold is closed in the ledger for good$/,
      );
      expect(await operator.getByRole('button', { name: /^Apply/ }).count()).toBe(0);
      expect(rollbacks()).toEqual([]);
      await operator
        .locator('table.doctor-jobs tr[data-mode="rollback_preview"][data-state="succeeded"]', { hasText: 'ops-operator' })
        .waitFor();

      // An admin applies it after the preview, confirming; the outcome shows and the manifest records the rollback.
      await signIn(admin);
      await previewRollbackFromConsole(admin, runId);
      await admin.getByRole('button', { name: 'Apply this rollback' }).click();
      await confirm(admin, 'Apply rollback');
      const applied = admin.locator('.doctor-job[data-mode="rollback_apply"][data-state="succeeded"]');
      await applied.waitFor({ timeout: 30_000 });
      await applied.getByRole('heading', { name: `Rollback of recovery run ${runId}` }).waitFor();
      expect(await applied.locator('tr[data-outcome]').innerText()).toMatch(/^expire_holds\s+not undoable\s+.*for good$/);
      expect(await applied.innerText()).toContain('recorded in the recovery run’s manifest');
      expect(rollbacks()).toEqual([
        expect.objectContaining({ force: false, steps: [expect.objectContaining({ outcome: 'not_undoable' })] }),
      ]);
      await admin
        .locator('table.doctor-jobs tr[data-mode="rollback_apply"][data-state="succeeded"]', { hasText: 'ops-admin' })
        .waitFor();
      await shoot(admin, 'doctor-rollback');

      // A run that is not there: the job fails naming it, and every token's overview shows it as the last failed job.
      const form = admin.getByRole('form', { name: 'Roll back a recovery run' });
      await form.getByLabel('Recovery run id').fill('no-such-run');
      await admin.getByRole('button', { name: 'Apply rollback', exact: true }).click();
      await confirm(admin, 'Apply rollback');
      await admin
        .locator('.doctor-job[data-mode="rollback_apply"][data-state="failed"]')
        .getByText(/no recovery run no-such-run/)
        .waitFor({
          timeout: 30_000,
        });
      await operator.getByRole('link', { name: 'Overview', exact: true }).click();
      await operator
        .getByRole('link', { name: /^Last failed doctor job: rollback apply by ops-admin .*no recovery run no-such-run/ })
        .click();
      await operator.locator('.doctor-job[data-mode="rollback_apply"][data-state="failed"]').waitFor();
      expect(await operator.locator('table.doctor-jobs tr[aria-current="true"]').getAttribute('data-state')).toBe('failed');
    } finally {
      await operator.close();
      await admin.close();
    }
  }, 90_000);

  it('shows a role no button that would answer 403', async () => {
    const incidentId = await openIncident(client, config.temporal.supervisorTaskQueue, approvalWaitingFinding('acme'));
    const page = await newPage();
    try {
      await signIn(page, tokens.operator);
      expect(await page.getByTestId('who').innerText()).toBe('ops-operator · operator · all tenants');
      await page.goto(`${baseUrl}/console/incidents/${incidentId}`);
      await page.locator('.incident').waitFor({ timeout: 20_000 });
      expect(await page.getByRole('group', { name: 'Decisions' }).count()).toBe(0);
      await page.getByRole('link', { name: 'Budgets', exact: true }).click();
      await page.locator('article[data-policy]').first().waitFor();
      expect(await page.getByRole('button', { name: 'New policy' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Edit' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: /^Override / }).count()).toBe(0);
      await page.getByRole('link', { name: 'Audit', exact: true }).click();
      await page.getByText('Only an all-tenant admin token may read the audit log.').waitFor();
      await page.getByRole('link', { name: 'Doctor', exact: true }).click();
      expect(await page.getByRole('button', { name: 'Preview repairs' }).count()).toBe(1);
    } finally {
      await page.close();
    }
  });

  it.each([
    ['desktop', desktop],
    ['phone', phone],
  ])(
    'lays every page out at %s size without sideways scrolling',
    async (name, viewport) => {
      const page = await newPage(viewport);
      try {
        await signIn(page);
        for (const [label, heading] of [
          ['Overview', 'Overview'],
          ['Runs', 'Runs'],
          ['Tasks', 'Tasks'],
          ['Incidents', 'Incidents'],
          ['Budgets', 'Budgets'],
          ['Diagnostics', 'Diagnostics'],
          ['Doctor', 'Doctor'],
          ['Audit', 'Audit'],
        ] as const) {
          await page.getByRole('link', { name: label, exact: true }).click();
          await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
          await until(async () => (await page.getByText(/^Loading .*…$/).count()) === 0, `${label} loaded`);
          const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
          expect({ page: label, overflow }).toEqual({ page: label, overflow: 0 });
          await shoot(page, `page-${label.toLowerCase()}-${name}`);
        }
      } finally {
        await page.close();
      }
    },
    90_000,
  );
});

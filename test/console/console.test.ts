import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext } from 'playwright-core';
import { buildServer } from '../../src/api/server';
import type { PalyraConfig } from '../../src/config';
import { launchChromium } from '../support/browser';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { composeTestServices, connectTestClient, testConfig, withTestWorker } from '../support/temporal';

const operatorToken = 'console-operator-token-0123456789';

let connection: Connection;
let client: Client;
let config: PalyraConfig;
let app: FastifyInstance;
let baseUrl: string;
let browser: BrowserContext;
let closeBrowser: () => Promise<void>;
let ledger: TestLedger;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  config = testConfig({ server: { port: 1 } });
  app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: 'http://temporal-ui.test:8233' },
    tokens: [{ name: 'operator', token: operatorToken, role: 'operator', tenants: ['*'] }],
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  ({ browser, close: closeBrowser } = await launchChromium());
});

afterAll(async () => {
  await closeBrowser?.();
  await app?.close();
  await connection?.close();
  await ledger?.close();
});

describe('operations console (Chromium)', () => {
  it('shows readiness, starts a simulated run and follows it to success with a Temporal UI link', async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await withTestWorker(config, async () => {
        await page.goto(`${baseUrl}/console`);
        await page.fill('#token', operatorToken);
        await page.click('#token-form button');
        await page.getByText('Token set for this tab.').waitFor();

        // Readiness needs the worker's pollers to be visible to the server.
        for (let i = 0; i < 30; i++) {
          await page.click('#refresh-readiness');
          await page.waitForTimeout(200);
          if ((await page.locator('#readiness .ok').count()) === 3) break;
        }
        expect(await page.locator('#readiness .ok').count()).toBe(3);

        await page.fill('#tenant', 'acme');
        await page.fill('#output-tokens', '12');
        await page.click('#start-form button');
        await page.getByText(/^Run [0-9a-f-]{36} started on sim-standard\.$/).waitFor();
        const runId = await page.inputValue('#run-id');

        await page.locator('#run td', { hasText: /^succeeded$/ }).waitFor({ timeout: 30_000 });
        const link = page.locator('#run a');
        expect(await link.getAttribute('href')).toMatch(
          new RegExp(`^http://temporal-ui\\.test:8233/namespaces/default/workflows/run-${runId}/[0-9a-f-]+/history$`),
        );
        expect(await page.locator('#run').innerText()).toContain('acme / console');
        expect((await page.locator('#run pre').innerText()).split(' ')).toHaveLength(12);
      });
    } finally {
      await page.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows the API’s own error when the token is wrong', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${baseUrl}/console`);
      await page.fill('#token', 'wrong-token-0123456789');
      await page.click('#token-form button');
      await page.fill('#run-id', '00000000-0000-4000-8000-000000000000');
      await page.click('#lookup-form button');
      await page.locator('#message.error').getByText('unauthorized: invalid bearer token').waitFor();
    } finally {
      await page.close();
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium; never a browser that a test tool downloads. */
export const chromiumPath = process.env.PALYRA_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium with the flags this machine needs and a fresh user-data dir. */
export async function launchChromium(): Promise<{ browser: BrowserContext; close(): Promise<void> }> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      `browser tests need Chromium at ${chromiumPath}: install it with \`apt-get install chromium\` or set PALYRA_TEST_CHROMIUM`,
    );
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

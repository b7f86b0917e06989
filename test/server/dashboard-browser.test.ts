/**
 * The dashboard in a real browser (headless Chromium driven by playwright-core): sign in with
 * the token, see a running workflow become succeeded without reloading (the event stream), open
 * its page and find its DAG; cancel another from its page. Chromium: /usr/bin/chromium or $CHROMIUM_PATH (.ci/run installs it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { TOKEN, chain, cleanup, registerSqlite, serve } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// DEFLOW_SCREENSHOTS=1 writes the pictures docs/dashboard.md shows (off by default: CI leaves the tree alone).
const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));

async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.DEFLOW_SCREENSHOTS !== '1') return;
  mkdirSync(IMAGES, { recursive: true });
  await page.screenshot({ path: `${IMAGES}dashboard-${name}.png`, fullPage: true });
}

let app: FastifyInstance | undefined;
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await cleanup(app);
  app = undefined;
});

it('signs in, follows a workflow live to succeeded, and shows its DAG', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  await registerSqlite();
  app = await serve({ stream: { pollMs: 200, flushMs: 50 }, counts: { maxAgeMs: 200 } });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    // 401s are the sign-in at work (no token yet, then a wrong one).
    if (message.type() === 'error' && !message.text().includes('status of 401')) problems.push(message.text());
  });

  await page.goto(`${base}/`);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', 'wrong-token-0123456789abcdef');
  await page.click('#login button[type=submit]');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  await page.fill('#token', TOKEN);
  await page.click('#login button[type=submit]');
  await page.locator('[data-testid=counts]').waitFor();
  // The stream is open (the live dot is on) before the workflow starts: what follows comes from it.
  await page.locator('#live.on').waitFor();

  const workflow = chain('browsed', 3, { ms: 700, concurrency: 1 }).run();
  const row = page.locator(`tr[data-workflow-id="${workflow.id}"]`);
  await row.locator('[data-status=running]').waitFor({ timeout: 20_000 });
  await row.locator('[data-status=succeeded]').waitFor({ timeout: 30_000 });
  await page.locator('[data-count=succeeded]', { hasText: 'succeeded: 1' }).waitFor({ timeout: 10_000 });
  await screenshot(page, 'list');

  await row.locator('a').click();
  const dag = page.locator('svg[data-testid=dag]');
  await dag.waitFor();
  expect(await dag.locator('g[data-step-id]').count()).toBe(2);
  expect(await dag.locator('line').count()).toBe(1);
  await dag.locator('g[data-step-id="1"][data-status=succeeded]').waitFor();
  await dag.locator('g[data-step-id="1"]').click();
  await page.locator('[data-testid=tasks] tbody tr').nth(2).waitFor();
  expect(await page.locator('[data-testid=tasks] tbody tr').count()).toBe(3);

  await page.click('a[href="#/nodes"]');
  await page.locator('[data-testid=nodes] tbody tr').first().waitFor();
  expect(await page.locator('[data-testid=nodes] tbody tr').first().textContent()).toContain('server-test-work');
  await screenshot(page, 'nodes');
  // Cancel from a running workflow's page: the button calls the write API with the token header.
  const long = chain('cancelled-in-browser', 2, { ms: 5_000, concurrency: 1 }).run();
  await long.started();
  await page.goto(`${base}/#/workflows/${encodeURIComponent(long.id)}`);
  await page.locator('h1 [data-status=running]').waitFor({ timeout: 20_000 });
  await screenshot(page, 'workflow');
  // A signal from the page reaches the workflow.
  await page.fill('[data-testid=signal] input[aria-label="event name"]', 'poke');
  await page.fill('[data-testid=signal] input[aria-label="event data"]', '{"n":1}');
  await page.click('[data-testid=signal] button');
  await page.locator('[data-testid=action-outcome]', { hasText: 'signal poke: done' }).waitFor({ timeout: 10_000 });
  expect((await long.getEvents()).map((event) => event.name)).toContain('poke');
  await page.click('[data-action=cancel]');
  await page.locator('h1 [data-status=cancelled]').waitFor({ timeout: 20_000 });
  await expect(long.done()).rejects.toThrow();
  expect(await page.locator('[data-action=cancel]').count()).toBe(0);
  // Retry from a step: the cancelled run runs again from step a, then is cancelled again.
  await page.click('[data-retry-from="1"]');
  await page.locator('[data-testid=action-outcome]', { hasText: 'retry from a: done' }).waitFor({ timeout: 10_000 });
  await page.locator('h1 [data-status=running], h1 [data-status=pending]').first().waitFor({ timeout: 20_000 });
  await page.click('[data-action=cancel]');
  await page.locator('h1 [data-status=cancelled]').waitFor({ timeout: 20_000 });

  // The token stays in this tab's session storage, never in a URL.
  expect(page.url()).not.toContain(TOKEN);
  expect(problems).toEqual([]);
}, 90_000);

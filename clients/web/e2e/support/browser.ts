import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterEach, expect } from 'vitest';
import { screenshotDir } from './paths';

/** Debian's Chromium, never a downloaded browser (shared/facts.md). Playwright gives each launch a fresh profile dir. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const waitMs = 10_000;

const keptFrames = 120;
let pagesOpened = 0;
const recentFrames = new Map<string, string[]>();

/**
 * When a test of the calling file fails, prints each page's newest WebSocket frames and the server log's tail: a
 * failure in CI then says what the pages and the server saw, not only which assertion gave up.
 */
export function explainFailures(serverLog: () => string | undefined): void {
  afterEach((context) => {
    if (context.task.result?.state !== 'fail') return;
    const parts = [`---- ${context.task.name}: newest WebSocket frames per page`];
    for (const [tag, frames] of recentFrames) parts.push(`-- ${tag}`, ...frames);
    parts.push('---- server log tail', serverLog() ?? '(no server)');
    console.log(parts.join('\n'));
  });
}

/** What a page did that it never should: dialogs opened, uncaught errors, CSP violations. */
export interface PageWatch {
  dialogs: string[];
  errors: string[];
  cspViolations: string[];
}

/** A user's browser context and page, with watchers for dialogs, page errors and CSP reports. */
export interface UserPage {
  context: BrowserContext;
  page: Page;
  watch: PageWatch;
}

export async function openPage(browser: Browser, baseUrl: string, options: { viewport?: { width: number; height: number } } = {}): Promise<UserPage> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: options.viewport ?? { width: 1200, height: 780 }, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(waitMs);
  page.setDefaultNavigationTimeout(waitMs);
  const watch: PageWatch = { dialogs: [], errors: [], cspViolations: [] };
  page.on('dialog', (dialog) => {
    watch.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => watch.errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) watch.cspViolations.push(message.text());
  });
  // The page's newest WebSocket frames, printed when a test fails (see explainFailures); PARLEY_E2E_TRACE=1 prints all.
  const tag = `page${++pagesOpened}`;
  const frames: string[] = [];
  recentFrames.set(tag, frames);
  const note = (direction: string, payload: string | Buffer): void => {
    const line = `${new Date().toISOString().slice(11, 23)} [${tag}] ${direction} ${String(payload).slice(0, 160)}`;
    if (process.env.PARLEY_E2E_TRACE === '1') console.log(line);
    frames.push(line);
    if (frames.length > keptFrames) frames.shift();
  };
  page.on('websocket', (ws) => {
    note('open', ws.url());
    ws.on('framesent', (f) => note('>>', f.payload));
    ws.on('framereceived', (f) => note('<<', f.payload));
    ws.on('close', () => note('closed', ''));
  });
  await page.goto('/');
  return { context, page, watch };
}

/** Registers (or signs in) through the form and waits for the chat shell. */
export async function authenticate(page: Page, username: string, password: string, mode: 'register' | 'login'): Promise<void> {
  if (mode === 'register') await page.getByRole('tab', { name: 'Create account' }).click();
  else await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.locator('form button[type=submit]').click();
  await page.locator('.me-name').waitFor();
  await expect.poll(() => page.locator('.me-name').textContent(), { timeout: waitMs }).toBe(username.toLowerCase());
  await waitOnline(page);
}

/** Waits until the connection banner is gone (synced). */
export async function waitOnline(page: Page): Promise<void> {
  await page.locator('.topbar').waitFor();
  await page.getByTestId('connection-banner').waitFor({ state: 'detached', timeout: 20_000 });
}

export function conversationItem(page: Page, title: string): Locator {
  return page.locator('.conversation', { has: page.locator('.conversation-title', { hasText: title }) });
}

export async function openConversation(page: Page, title: string): Promise<void> {
  await conversationItem(page, title).click();
  await expect.poll(() => page.locator('#chat-title').textContent(), { timeout: waitMs }).toContain(title);
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.locator('.composer textarea');
  await box.fill(text);
  await box.press('Enter');
  await expect.poll(() => box.inputValue(), { timeout: waitMs }).toBe('');
}

/** Bodies of the messages shown, top to bottom. */
export function bodies(page: Page): Promise<string[]> {
  return page.locator('.message .body').allTextContents();
}

/** The status of the newest own bubble whose body is `text`. */
export function statusOf(page: Page, text: string): Promise<string | null> {
  return page.locator('.message.mine', { has: page.locator('.body', { hasText: text }) }).last().getAttribute('data-status');
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}

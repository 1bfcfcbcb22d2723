import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, bodies, conversationItem, explainFailures, launchChromium, openPage, send, type UserPage, waitMs } from './support/browser';
import { ParleyServer } from './support/server';

// Each payload, if it ever ran, would set window.__pwned and open a dialog; neither may happen.
const bodyPayloads = [
  `<img src=x onerror="window.__pwned='img';alert('img')">`,
  `<script>window.__pwned='script';alert('script')</script>`,
  `javascript:window.__pwned='js-url';alert('js-url')`,
  `<a href="javascript:window.__pwned='a';alert('a')">click me</a>`,
  `[click me](javascript:alert('markdown'))`,
  `<svg onload="window.__pwned='svg';alert('svg')"></svg>`,
  `"><iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>`,
  `{{constructor.constructor('window.__pwned=1')()}} &lt;b&gt;entities&lt;/b&gt; &amp;`,
];
const roomImg = `<img src=x onerror="window.__pwned='room';alert('room')">`;
const roomScript = `<script>window.__pwned='room2'</script>`;

let server: ParleyServer;
let browser: Browser;
let alice: UserPage;
let bob: UserPage;

async function pwned(page: Page): Promise<unknown> {
  return page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned);
}

async function activeContent(page: Page): Promise<{ img: number; script: number; iframe: number; svg: number; jsLinks: number }> {
  return page.evaluate(() => ({
    img: document.querySelectorAll('#root img').length,
    script: document.querySelectorAll('#root script').length,
    iframe: document.querySelectorAll('iframe').length,
    svg: document.querySelectorAll('#root svg').length,
    jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
  }));
}

explainFailures(() => server?.logTail());

beforeAll(async () => {
  server = await ParleyServer.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

describe('user text is text', () => {
  it('shows usernames exactly as stored, with every allowed character', async () => {
    alice = await openPage(browser, server.url);
    bob = await openPage(browser, server.url);
    // Usernames are limited to [A-Za-z0-9_.-] and folded to lower case: check they come out verbatim.
    await authenticate(alice.page, 'Zed.O-Neil_3', 'password-123', 'register');
    await authenticate(bob.page, 'x_ray.-99', 'password-123', 'register');
    expect(await alice.page.locator('.me-name').textContent()).toBe('zed.o-neil_3');

    await alice.page.getByRole('button', { name: 'New message' }).click();
    await alice.page.getByRole('dialog').getByLabel('Username').fill('x_ray.-99');
    await alice.page.getByRole('button', { name: 'Start conversation' }).click();
    await expect.poll(() => alice.page.locator('#chat-title').textContent(), { timeout: waitMs }).toBe('x_ray.-99');
    await send(alice.page, 'hello');
    await conversationItem(bob.page, 'zed.o-neil_3').click();
    await expect.poll(() => bob.page.locator('.message .sender').first().textContent(), { timeout: waitMs }).toBe('zed.o-neil_3');
  });

  it('renders room names as text in the list, the header and the directory', async () => {
    const a = alice.page;
    const b = bob.page;
    for (const name of [roomImg, roomScript]) {
      await a.getByRole('button', { name: 'New room' }).click();
      await a.getByLabel('Room name').fill(name);
      await a.getByRole('button', { name: 'Create room' }).click();
      await expect.poll(() => a.locator('#chat-title').textContent(), { timeout: waitMs }).toBe(`# ${name}`);
    }
    expect(await conversationItem(a, roomImg).count()).toBe(1);

    await b.getByRole('button', { name: 'Browse rooms' }).click();
    const directoryEntry = b.locator('.room', { has: b.locator('.room-name', { hasText: roomImg }) });
    await directoryEntry.waitFor();
    expect(await directoryEntry.locator('.room-name').textContent()).toBe(roomImg);
    await directoryEntry.getByRole('button', { name: /^Join/ }).click();
    await expect.poll(() => b.locator('#chat-title').textContent(), { timeout: waitMs }).toBe(`# ${roomImg}`);
    expect(await conversationItem(b, roomImg).locator('.conversation-title').textContent()).toBe(roomImg);
  });

  it('renders message bodies as text, and nothing in them runs', async () => {
    const a = alice.page;
    const b = bob.page;
    await conversationItem(a, roomImg).click();
    for (const payload of bodyPayloads) await send(a, payload);
    await expect.poll(() => bodies(b), { timeout: waitMs }).toEqual(bodyPayloads);
    await expect.poll(() => bodies(a), { timeout: waitMs }).toEqual(bodyPayloads);
    // The list preview is text too.
    await expect.poll(() => conversationItem(b, roomImg).locator('.conversation-last').textContent(), { timeout: waitMs }).toBe(`zed.o-neil_3: ${bodyPayloads.at(-1)}`);

    // Click every bubble: a link, if one had been made, would navigate or run.
    for (const body of await b.locator('.message .body').all()) await body.click();
    await b.waitForTimeout(300);

    for (const page of [a, b]) {
      expect(await activeContent(page)).toEqual({ img: 0, script: 0, iframe: 0, svg: 0, jsLinks: 0 });
      expect(await pwned(page)).toBeUndefined();
      expect(page.url()).toBe(`${server.url}/`);
    }
    for (const user of [alice, bob]) expect(user.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
  });
});

describe('right-to-left overrides and combining marks stay inside their text', () => {
  // A right-to-left override (U+202E) reverses everything after it up to the end of its paragraph, unless the text it
  // sits in is isolated: a room name could otherwise flip the labels that follow it.
  const rlo = '\u202Eevil.exe';
  const zalgo = `Z${'\u0301'.repeat(3999)}`;

  it('keeps the labels after an overridden room name in place', async () => {
    const a = alice.page;
    await a.getByRole('button', { name: 'New room' }).click();
    await a.getByLabel('Room name').fill(rlo);
    await a.getByLabel('Private').check();
    await a.getByRole('button', { name: 'Create room' }).click();
    await expect.poll(() => a.locator('#chat-title').textContent(), { timeout: waitMs }).toBe(`# ${rlo}`);
    const item = conversationItem(a, 'evil.exe');
    await item.locator('.tag').waitFor();
    // The "private" tag follows the name on screen too: left to right, after the name's own glyphs.
    const layout = await item.locator('.conversation-title').evaluate((title) => {
      const walker = document.createTreeWalker(title, NodeFilter.SHOW_TEXT);
      const text = walker.nextNode();
      const range = document.createRange();
      range.selectNodeContents(text as Node);
      const name = range.getBoundingClientRect();
      const tag = (title.querySelector('.tag') as HTMLElement).getBoundingClientRect();
      return { nameRight: name.right, tagLeft: tag.left };
    });
    expect(layout.tagLeft).toBeGreaterThanOrEqual(layout.nameRight - 1);
  });

  it('renders bodies with overrides and thousands of combining marks as their exact text, clipped to the bubble', async () => {
    const a = alice.page;
    const b = bob.page;
    await conversationItem(a, roomImg).click();
    await send(a, rlo);
    await send(a, zalgo);
    await send(a, 'after the marks');
    await expect.poll(async () => (await bodies(b)).slice(-3), { timeout: waitMs }).toEqual([rlo, zalgo, 'after the marks']);
    const zalgoBubble = b.locator('.message .body', { hasText: 'Z' }).last();
    const box = await zalgoBubble.boundingBox();
    expect(box?.height ?? 0).toBeLessThan(200);
    expect(await zalgoBubble.evaluate((el) => getComputedStyle(el).overflow)).toBe('hidden');
    // The sender's name, shown before an overridden body, still reads left to right.
    expect(await b.locator('.message .sender').last().textContent()).toBe('zed.o-neil_3');
    for (const user of [alice, bob]) expect(user.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
  });

  it('refuses markup as a username at registration, and shows the refusal as text', async () => {
    const visitor = await openPage(browser, server.url);
    const page = visitor.page;
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Username').fill(`<img src=x onerror="window.__pwned='user'">`);
    await page.getByLabel('Password').fill('password-123');
    await page.locator('form button[type=submit]').click();
    await page.getByRole('alert').waitFor();
    expect(await pwned(page)).toBeUndefined();
    expect(await page.locator('#root img').count()).toBe(0);
    expect(visitor.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
    await visitor.context.close();
  });
});

describe('the Content-Security-Policy is on every response', () => {
  it('covers the page, its scripts and styles, API answers, errors and 404s as the browser loads them', async () => {
    const context = await browser.newContext({ baseURL: server.url });
    const page = await context.newPage();
    page.setDefaultTimeout(waitMs);
    const seen: { url: string; status: number; type: string; csp: string | undefined }[] = [];
    page.on('response', (response) => {
      seen.push({ url: response.url(), status: response.status(), type: response.request().resourceType(), csp: response.headers()['content-security-policy'] });
    });
    await page.goto('/');
    await authenticate(page, `csp${Date.now().toString(36)}`, 'password-123', 'register');
    await page.getByRole('button', { name: 'Browse rooms' }).click();
    await page.locator('.directory').waitFor();
    // Answers the UI rarely asks for, fetched from the page itself: errors, health, a missing API path.
    await page.evaluate(async () => {
      for (const path of ['/api/v1/stats', '/api/v1/nothing', '/api/v1/conversations', '/healthz', '/readyz', '/ws', '/assets/missing.js']) await fetch(path);
    });
    await page.goto('/index.html');
    await page.waitForLoadState('networkidle');
    // Last: Chromium reports an empty 404 page as a navigation error; its response (and headers) still arrive.
    await page.goto('/no/such/page').catch(() => null);
    await expect.poll(() => seen.some((s) => s.status === 404 && s.type === 'document'), { timeout: waitMs }).toBe(true);

    const types = new Set(seen.map((s) => s.type));
    for (const type of ['document', 'script', 'stylesheet', 'fetch']) expect(types).toContain(type);
    expect(seen.some((s) => s.status === 401)).toBe(true);
    const missing = seen.filter((s) => !s.csp?.includes("script-src 'self'") || s.csp.includes('unsafe-inline'));
    expect(missing).toEqual([]);
    await context.close();
  });
});

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, bodies, conversationItem, launchChromium, openPage, send, waitMs, type UserPage } from './support/browser';
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

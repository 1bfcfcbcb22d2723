import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticate,
  bodies,
  conversationItem,
  explainFailures,
  launchChromium,
  openConversation,
  openPage,
  screenshot,
  send,
  statusOf,
  waitMs,
  type UserPage,
} from './support/browser';
import { ParleyServer } from './support/server';
import { movesForward, recordStatuses, statusHistory } from './support/status-log';

const password = 'correct-horse-9';
let server: ParleyServer;
let browser: Browser;
let alice: UserPage;
let bob: UserPage;

explainFailures(() => server?.logTail());

beforeAll(async () => {
  // A peer whose page closes is shown offline once the node's presence grace ends (15 s by default; 2 s here).
  server = await ParleyServer.start(['--Parley:PresenceOfflineGraceMs=2000']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

describe('Parley in the browser', () => {
  it('serves the UI at / with a strict Content-Security-Policy and no inline code', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).toContain('<div id="root">');
    expect(html).toMatch(/<script type="module"[^>]* src="\/assets\/[^"]+\.js">/);
    // Every <script> has a src: nothing inline for the CSP to refuse; no <style> blocks or style attributes either.
    expect(html.match(/<script\b[^>]*>/g)?.every((tag) => /\bsrc=/.test(tag))).toBe(true);
    expect(html).not.toMatch(/<style|\sstyle=/);
  });

  it('explains refused sign-ins and registrations', async () => {
    const visitor = await openPage(browser, server.url, { viewport: { width: 1000, height: 700 } });
    const { page } = visitor;
    await page.getByLabel('Username').waitFor();
    await screenshot(page, 'login');

    await page.getByLabel('Username').fill('nobody');
    await page.getByLabel('Password').fill('whatever-123');
    await page.locator('form button[type=submit]').click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: waitMs }).toBe('Wrong username or password.');

    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Username').fill('ab');
    await page.locator('form button[type=submit]').click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: waitMs }).toContain('3–32 characters');

    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill('short');
    await page.locator('form button[type=submit]').click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: waitMs }).toContain('at least 8 characters');

    await authenticate(page, 'carol', password, 'register');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Username').fill('Carol');
    await page.getByLabel('Password').fill(password);
    await page.locator('form button[type=submit]').click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: waitMs }).toContain('That username is taken');
    // The token lives in sessionStorage, never in the address bar.
    expect(page.url()).toBe(`${server.url}/`);
    expect(visitor.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
    await visitor.context.close();
  });

  it('lets two users chat in a room: ticks reach read, typing shows both ways', async () => {
    alice = await openPage(browser, server.url);
    bob = await openPage(browser, server.url);
    await authenticate(alice.page, 'alice', password, 'register');
    await authenticate(bob.page, 'bob', password, 'register');
    const a = alice.page;
    const b = bob.page;

    await a.getByRole('button', { name: 'New room' }).click();
    await a.getByLabel('Room name').fill('Garden club');
    await a.getByRole('button', { name: 'Create room' }).click();
    await expect.poll(() => a.locator('#chat-title').textContent(), { timeout: waitMs }).toContain('Garden club');

    await b.getByRole('button', { name: 'Browse rooms' }).click();
    await b.getByRole('button', { name: 'Join Garden club' }).click();
    await expect.poll(() => b.locator('#chat-title').textContent(), { timeout: waitMs }).toContain('Garden club');
    await expect.poll(() => a.locator('.chat-subtitle').textContent(), { timeout: waitMs }).toContain('2 members');

    await recordStatuses(a);
    await send(a, 'Hello Bob, welcome to the garden');
    await expect.poll(() => bodies(b), { timeout: waitMs }).toContain('Hello Bob, welcome to the garden');
    await expect.poll(() => statusOf(a, 'Hello Bob, welcome'), { timeout: waitMs }).toBe('read');
    const history = await statusHistory(a, 'Hello Bob, welcome to the garden');
    expect(history.at(-1)).toBe('read');
    expect(movesForward(history)).toBe(true);
    expect(await a.locator('.message.mine .read-by').last().textContent()).toBe('Read by 1');
    // Bob sees who wrote it, when, and which node accepted it.
    const incoming = b.locator('.message', { hasText: 'Hello Bob, welcome' });
    expect(await incoming.locator('.sender').textContent()).toBe('alice');
    expect(await incoming.locator('.node').textContent()).toBe('e2e-node');
    expect(await incoming.locator('time').textContent()).toMatch(/\d{1,2}.\d{2}/);
    expect(await b.locator('.day-separator').first().textContent()).toBe('Today');

    await b.locator('.composer textarea').fill('I am writing a reply');
    await expect.poll(() => a.getByTestId('typing').textContent(), { timeout: waitMs }).toBe('bob is typing…');
    await b.locator('.composer textarea').press('Enter');
    await expect.poll(() => bodies(a), { timeout: waitMs }).toContain('I am writing a reply');
    await expect.poll(() => a.getByTestId('typing').textContent(), { timeout: waitMs }).toBe('');
    await expect.poll(() => statusOf(b, 'I am writing a reply'), { timeout: waitMs }).toBe('read');

    await a.locator('.composer textarea').fill('typing back');
    await expect.poll(() => b.getByTestId('typing').textContent(), { timeout: waitMs }).toBe('alice is typing…');
    await a.locator('.composer textarea').press('Enter');
    await expect.poll(() => statusOf(a, 'typing back'), { timeout: waitMs }).toBe('read');

    // The list shows the last message and its time.
    await expect.poll(() => conversationItem(a, 'Garden club').locator('.conversation-last').textContent(), { timeout: waitMs }).toBe('alice: typing back');
    expect(await conversationItem(a, 'Garden club').locator('.conversation-time').textContent()).toMatch(/\d/);
    // The header's online count comes from /api/v1/stats (polled, and re-read on presence changes).
    await expect.poll(() => a.getByTestId('online-count').textContent(), { timeout: 15_000 }).toBe('2');
    await screenshot(a, 'chat-desktop');
    expect(alice.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
    expect(bob.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
  });

  it('brings back a user who was away: all 30 messages in order, none twice', async () => {
    const a = alice.page;
    await bob.context.close();
    const expected = Array.from({ length: 30 }, (_, i) => `catch-up ${String(i + 1).padStart(2, '0')}`);
    for (const text of expected) await send(a, text);
    // Every one stored (acked): no optimistic bubble left.
    await expect.poll(() => a.locator('.message.outgoing').count(), { timeout: 20_000 }).toBe(0);
    expect(await statusOf(a, 'catch-up 30')).toBe('sent');

    bob = await openPage(browser, server.url);
    const b = bob.page;
    await authenticate(b, 'bob', password, 'login');
    await expect.poll(() => conversationItem(b, 'Garden club').locator('.badge').textContent(), { timeout: waitMs }).toBe('30');
    await openConversation(b, 'Garden club');
    await expect.poll(async () => (await bodies(b)).filter((t) => t.startsWith('catch-up ')), { timeout: waitMs }).toEqual(expected);
    const seqs = (await b.locator('.message[data-seq]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))) as number[];
    expect(seqs.length).toBeGreaterThanOrEqual(30);
    expect(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1)).toBe(true);
    await expect.poll(() => conversationItem(b, 'Garden club').locator('.badge').count(), { timeout: waitMs }).toBe(0);
    await expect.poll(() => statusOf(a, 'catch-up 30'), { timeout: waitMs }).toBe('read');
  });

  it('scrolls back through the whole history', async () => {
    const b = bob.page;
    const box = b.locator('.messages');
    for (let i = 0; i < 10 && (await b.locator('.history-edge', { hasText: 'Start of the conversation' }).count()) === 0; i++) {
      await box.evaluate((el) => {
        el.scrollTop = 0;
      });
      await b.waitForTimeout(300);
    }
    await b.locator('.history-edge', { hasText: 'Start of the conversation' }).waitFor();
    const seqs = (await b.locator('.message[data-seq]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))) as number[];
    expect(seqs[0]).toBe(1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect((await bodies(b))[0]).toBe('Hello Bob, welcome to the garden');
  });

  it('opens a direct conversation by username, with presence', async () => {
    const a = alice.page;
    const b = bob.page;
    await a.getByRole('button', { name: 'New message' }).click();
    await a.getByRole('dialog').getByLabel('Username').fill('nosuchuser');
    await a.getByRole('button', { name: 'Start conversation' }).click();
    await expect.poll(() => a.getByRole('dialog').getByRole('alert').textContent(), { timeout: waitMs }).toBe('There is no user with that name.');
    await a.getByRole('dialog').getByLabel('Username').fill('Bob');
    await a.getByRole('button', { name: 'Start conversation' }).click();
    await expect.poll(() => a.locator('#chat-title').textContent(), { timeout: waitMs }).toBe('bob');
    await expect.poll(() => a.getByTestId('peer-presence').getAttribute('data-online'), { timeout: waitMs }).toBe('true');
    await send(a, 'Just between us: the roses are early this year');

    await conversationItem(b, 'alice').waitFor();
    expect(await conversationItem(b, 'alice').locator('.dot').getAttribute('class')).toContain('online');
    await openConversation(b, 'alice');
    await expect.poll(() => bodies(b), { timeout: waitMs }).toEqual(['Just between us: the roses are early this year']);
    await send(b, 'Noted. I will bring the shears.');
    await expect.poll(() => bodies(a), { timeout: waitMs }).toContain('Noted. I will bring the shears.');
    await expect.poll(() => statusOf(a, 'Just between us'), { timeout: waitMs }).toBe('read');
    await screenshot(a, 'dm');
  });

  it('lets the owner add members to a private room; others cannot; leaving removes it', async () => {
    const a = alice.page;
    const b = bob.page;
    await a.getByRole('button', { name: 'New room' }).click();
    await a.getByLabel('Room name').fill('Committee');
    await a.getByLabel(/Private/).check();
    await a.getByRole('button', { name: 'Create room' }).click();
    await expect.poll(() => a.locator('.chat-subtitle').textContent(), { timeout: waitMs }).toContain('private');

    await a.getByRole('button', { name: 'Add member' }).click();
    await a.getByRole('dialog').getByLabel('Username').fill('bob');
    await a.getByRole('dialog').getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => a.locator('.chat-subtitle').textContent(), { timeout: waitMs }).toContain('2 members');
    await conversationItem(b, 'Committee').waitFor();

    await openConversation(b, 'Committee');
    await b.getByRole('button', { name: 'Add member' }).click();
    await b.getByRole('dialog').getByLabel('Username').fill('carol');
    await b.getByRole('dialog').getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => b.getByRole('dialog').getByRole('alert').textContent(), { timeout: waitMs }).toBe("Only the room's owner can add members.");
    await b.keyboard.press('Escape');
    await b.getByRole('dialog').waitFor({ state: 'hidden' });

    await b.getByRole('button', { name: 'Leave' }).click();
    await b.getByRole('button', { name: 'Leave room' }).click();
    await conversationItem(b, 'Committee').waitFor({ state: 'detached' });
    await expect.poll(() => a.locator('.chat-subtitle').textContent(), { timeout: waitMs }).toContain('1 member');
    // A private room is not in the directory.
    await b.getByRole('button', { name: 'Browse rooms' }).click();
    await b.locator('.room', { hasText: 'Garden club' }).waitFor();
    expect(await b.locator('.room', { hasText: 'Committee' }).count()).toBe(0);
  });

  it('shows a peer going offline', async () => {
    const a = alice.page;
    await openConversation(a, 'bob');
    await expect.poll(() => a.getByTestId('peer-presence').getAttribute('data-online'), { timeout: waitMs }).toBe('true');
    await bob.context.close();
    await expect.poll(() => a.getByTestId('peer-presence').getAttribute('data-online'), { timeout: waitMs }).toBe('false');
  });

  it('works on a phone-sized screen', async () => {
    const phone = await openPage(browser, server.url, { viewport: { width: 390, height: 780 } });
    const p = phone.page;
    await authenticate(p, 'alice', password, 'login');
    await conversationItem(p, 'Garden club').waitFor();
    expect(await p.locator('.main').isVisible()).toBe(false);
    // Alice read everything on her other device, her own messages included: nothing is unread here.
    await expect.poll(() => conversationItem(p, 'Garden club').locator('.conversation-last').textContent(), { timeout: waitMs }).toBe('alice: catch-up 30');
    expect(await p.locator('.badge').count()).toBe(0);
    await screenshot(p, 'phone-list');
    await openConversation(p, 'Garden club');
    expect(await p.locator('.sidebar').isVisible()).toBe(false);
    await expect.poll(() => bodies(p), { timeout: waitMs }).toContain('catch-up 30');
    // Nothing wider than the screen.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(p, 'phone-chat');
    await p.getByRole('button', { name: 'Back to conversations' }).click();
    await conversationItem(p, 'Garden club').waitFor();
    expect(phone.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
    await phone.context.close();
  });

  it('is usable with the keyboard alone', async () => {
    const a = alice.page;
    await a.getByRole('button', { name: 'New message' }).focus();
    await a.keyboard.press('Shift+Tab');
    await expect.poll(() => a.evaluate(() => document.activeElement?.textContent), { timeout: waitMs }).toBe('New room');
    // Focus is visible.
    expect(await a.evaluate(() => getComputedStyle(document.activeElement as Element).boxShadow)).not.toBe('none');
    await a.keyboard.press('Enter');
    await a.getByRole('dialog').waitFor();
    await a.keyboard.press('Escape');
    await a.getByRole('dialog').waitFor({ state: 'hidden' });
    // Focus went back to the button that opened the dialog.
    await expect.poll(() => a.evaluate(() => document.activeElement?.textContent), { timeout: waitMs }).toBe('New room');
    // A quick typist: Enter right after Escape reopens the dialog. The browser handles input before the queued
    // close event of the dialog that Escape closed; the two keys go out back to back to give it that chance.
    const cdp = await a.context().newCDPSession(a);
    const key = (type: 'keyDown' | 'keyUp', name: 'Escape' | 'Enter'): Promise<unknown> =>
      cdp.send('Input.dispatchKeyEvent', {
        type,
        key: name,
        code: name,
        windowsVirtualKeyCode: name === 'Enter' ? 13 : 27,
        ...(name === 'Enter' && type === 'keyDown' ? { text: '\r' } : {}),
      });
    await a.keyboard.press('Enter');
    for (let i = 0; i < 5; i++) {
      await expect.poll(() => a.evaluate(() => document.activeElement?.getAttribute('name')), { timeout: waitMs }).toBe('room-name');
      if (i === 4) break;
      await Promise.all([key('keyDown', 'Escape'), key('keyUp', 'Escape'), key('keyDown', 'Enter'), key('keyUp', 'Enter')]);
    }
    await cdp.detach();
    await a.keyboard.type('Keyboard room');
    await a.keyboard.press('Enter');
    await expect.poll(() => a.locator('#chat-title').textContent(), { timeout: waitMs }).toContain('Keyboard room');
    // The composer has focus: Shift+Enter makes a new line, Enter sends.
    await expect.poll(() => a.evaluate(() => document.activeElement?.tagName), { timeout: waitMs }).toBe('TEXTAREA');
    await a.keyboard.type('first line');
    await a.keyboard.press('Shift+Enter');
    await a.keyboard.type('second line');
    await a.keyboard.press('Enter');
    await expect.poll(() => bodies(a), { timeout: waitMs }).toEqual(['first line\nsecond line']);
    await a.keyboard.press('Escape');
    await a.locator('.empty-state').waitFor();
    expect(alice.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
  });
});

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClient, RestClient, type Message, type MessageSource } from '../src/protocol';
import { authenticate, bodies, conversationItem, explainFailures, launchChromium, openPage, screenshot, send, statusOf, waitMs } from './support/browser';
import { ParleyServer } from './support/server';

// A small backlog limit makes the server answer a resume with a gap frame after only 20 missed messages, and a high
// send rate lets the test send a few hundred messages quickly.
let server: ParleyServer;
let browser: Browser;

explainFailures(() => server?.logTail());

beforeAll(async () => {
  server = await ParleyServer.start(['--Parley:BacklogLimit=20', '--Parley:SendRatePerSecond=1000', '--Parley:SendBurst=1000']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

/** Resolves when `predicate` holds, polling every 25 ms; fails after `timeoutMs`. */
async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function collect(client: ParleyClient): { messages: Message[]; sources: MessageSource[] } {
  const got = { messages: [] as Message[], sources: [] as MessageSource[] };
  client.on('message', ({ message, source }) => {
    got.messages.push(message);
    got.sources.push(source);
  });
  return got;
}

describe('protocol client against a real node', () => {
  it('sends until acked, dedupes, and fills a resume gap from history', async () => {
    const rest = new RestClient({ baseUrl: server.url });
    const ann = await rest.register('ann', 'password-123');
    const ben = await rest.register('ben', 'password-123');
    const annClient = new ParleyClient({ baseUrl: server.url, token: ann.token });
    const acks = new Map<string, number>();
    annClient.on('ack', (a) => acks.set(a.clientMsgId, a.seq));
    annClient.start();
    await until(() => annClient.state === 'online', 10_000, 'ann online');
    const room = await new RestClient({ baseUrl: server.url, token: () => ann.token }).createRoom('wire', false);
    annClient.adopt(room);
    await new RestClient({ baseUrl: server.url, token: () => ben.token }).joinRoom(room.id);

    let benClient = new ParleyClient({ baseUrl: server.url, token: ben.token });
    let benGot = collect(benClient);
    benClient.start();
    await until(() => benClient.state === 'online', 10_000, 'ben online');

    const first = Array.from({ length: 40 }, (_, i) => annClient.send(room.id, `live ${i + 1}`));
    await until(() => first.every((id) => acks.has(id)), 10_000, 'acks of the live messages');
    await until(() => benGot.messages.length === 40, 10_000, 'ben receiving the live messages');
    expect(benGot.messages.map((m) => m.body)).toEqual(first.map((_, i) => `live ${i + 1}`));
    expect(benGot.messages.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));

    // Ben's delivered watermark reaches the server (batched), then Ben goes away; 150 more arrive (well over the
    // backlog limit of 20).
    const benRest = new RestClient({ baseUrl: server.url, token: () => ben.token });
    const deadline = Date.now() + 10_000;
    while ((await benRest.conversations()).find((c) => c.id === room.id)?.deliveredSeq !== 40) {
      if (Date.now() > deadline) throw new Error("timed out waiting for ben's delivered watermark");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    benClient.stop();
    const second = Array.from({ length: 150 }, (_, i) => annClient.send(room.id, `missed ${i + 1}`));
    await until(() => second.every((id) => acks.has(id)), 20_000, 'acks of the missed messages');
    expect(second.map((id) => acks.get(id))).toEqual(Array.from({ length: 150 }, (_, i) => 41 + i));

    benClient = new ParleyClient({ baseUrl: server.url, token: ben.token, initialBacklog: 5 });
    benGot = collect(benClient);
    benClient.start();
    await until(() => benGot.messages.length >= 150, 20_000, 'ben catching up');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seqs = benGot.messages.map((m) => m.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 150 }, (_, i) => 41 + i));
    expect(benClient.cursorOf(room.id)).toBe(190);
    // The older part came through history (the gap), the newest 20 through the socket.
    expect(benGot.sources.filter((s) => s === 'fill').length).toBe(130);
    expect(benGot.sources.filter((s) => s === 'live').length).toBe(20);
    annClient.stop();
    benClient.stop();
  });
});

describe('a node restart in the browser', () => {
  it('shows "reconnecting…", resumes, and delivers a message sent during the outage exactly once', async () => {
    const alice = await openPage(browser, server.url);
    const bob = await openPage(browser, server.url);
    const a = alice.page;
    const b = bob.page;
    await authenticate(a, 'alice', 'password-123', 'register');
    await authenticate(b, 'bob', 'password-123', 'register');
    await a.getByRole('button', { name: 'New room' }).click();
    await a.getByLabel('Room name').fill('Resilience');
    await a.getByRole('button', { name: 'Create room' }).click();
    await b.getByRole('button', { name: 'Browse rooms' }).click();
    await b.getByRole('button', { name: 'Join Resilience' }).click();
    await send(a, 'before the crash');
    await expect.poll(() => bodies(b), { timeout: waitMs }).toEqual(['before the crash']);

    await server.stop('SIGKILL');
    for (const page of [a, b]) {
      await expect.poll(() => page.getByTestId('connection-banner').textContent(), { timeout: waitMs }).toMatch(/^Reconnecting…/);
    }
    await send(a, 'sent while the server was down');
    await expect.poll(() => statusOf(a, 'sent while the server was down'), { timeout: waitMs }).toBe('pending');
    await screenshot(a, 'reconnecting');

    await server.start();
    for (const page of [a, b]) await page.getByTestId('connection-banner').waitFor({ state: 'detached', timeout: 30_000 });
    await expect.poll(() => bodies(b), { timeout: 20_000 }).toEqual(['before the crash', 'sent while the server was down']);
    await expect.poll(() => statusOf(a, 'sent while the server was down'), { timeout: waitMs }).toBe('read');
    // Still exactly once after a page reload (the server stored it once).
    await b.reload();
    await b.locator('.me-name').waitFor();
    await conversationItem(b, 'Resilience').click();
    await expect.poll(() => bodies(b), { timeout: waitMs }).toEqual(['before the crash', 'sent while the server was down']);
    for (const user of [alice, bob]) expect(user.watch).toEqual({ dialogs: [], errors: [], cspViolations: [] });
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ParleyClient, type ParleyClientOptions, type StateChange } from './client';
import { FakeRest, FakeSocket, conversation, message } from './testing/fakes';
import type { Message } from './types';

const welcome = { op: 'welcome', userId: 'u-me', username: 'me', node: 'node-1', heartbeatMs: 25_000 } as const;

/** Lets promises and fetch bodies resolve (real macrotask turns; timers are fake). */
async function settle(): Promise<void> {
  for (let i = 0; i < 8; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

function setup(options: Partial<ParleyClientOptions> = {}) {
  const rest = new FakeRest();
  const sockets: FakeSocket[] = [];
  const client = new ParleyClient({
    token: 'secret-token',
    baseUrl: 'http://parley.test',
    fetch: rest.fetch,
    webSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    random: () => 0,
    ...options,
  });
  const received: Message[] = [];
  const states: StateChange[] = [];
  const acks: { clientMsgId: string; seq: number }[] = [];
  const failures: { clientMsgId: string; code: string }[] = [];
  let unauthorized = 0;
  client.on('message', ({ message: m }) => received.push(m));
  client.on('state', (s) => states.push(s));
  client.on('ack', (a) => acks.push({ clientMsgId: a.clientMsgId, seq: a.seq }));
  client.on('sendFailed', (f) => failures.push({ clientMsgId: f.clientMsgId, code: f.code }));
  client.on('unauthorized', () => unauthorized++);
  const socket = (): FakeSocket => {
    const s = sockets.at(-1);
    if (!s) throw new Error('no socket opened');
    return s;
  };
  /** Starts (or waits for the next attempt), opens the socket, and welcomes; `synced` ends the backlog. */
  const connect = async ({ synced = true }: { synced?: boolean } = {}): Promise<FakeSocket> => {
    client.start();
    const before = sockets.length;
    for (let i = 0; i < 50 && sockets.length === before; i++) await advance(100);
    const s = socket();
    s.open();
    s.receive(welcome);
    if (synced) s.receive({ op: 'synced' });
    await settle();
    return s;
  };
  return { rest, sockets, client, received, states, acks, failures, socket, connect, unauthorizedCount: () => unauthorized };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('hello and resume', () => {
  it('sends the token in the hello frame, not the URL, with a cursor per conversation', async () => {
    const h = setup({ initialBacklog: 30 });
    h.rest.conversations = [
      conversation('r1', { lastSeq: 100, deliveredSeq: 100 }),
      conversation('r2', { lastSeq: 50, deliveredSeq: 10 }),
      conversation('r3', { lastSeq: 5, deliveredSeq: 5 }),
    ];
    const s = await h.connect();
    expect(s.url).toBe('ws://parley.test/ws');
    expect(s.url).not.toContain('secret-token');
    const hello = s.frames('hello')[0];
    // Newest 30 of a caught-up conversation; everything undelivered otherwise.
    expect(hello).toEqual({ op: 'hello', token: 'secret-token', resume: { r1: 70, r2: 10, r3: 0 } });
  });

  it('goes connecting → syncing → online', async () => {
    const h = setup();
    const s = await h.connect({ synced: false });
    expect(h.client.state).toBe('syncing');
    s.receive({ op: 'synced' });
    expect(h.states.map((x) => x.state)).toEqual(['connecting', 'syncing', 'online']);
  });

  it('resumes from the advanced cursors after a reconnect', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1', { lastSeq: 3, deliveredSeq: 3 })];
    h.rest.seed('r1', 3);
    const s1 = await h.connect();
    for (let seq = 1; seq <= 6; seq++) s1.receive({ op: 'msg', ...message('r1', seq) });
    s1.serverClose(1012, 'restart');
    const s2 = await h.connect();
    expect(s2).not.toBe(s1);
    expect(s2.frames('hello')[0]?.resume).toEqual({ r1: 6 });
  });

  it('drops the cursor of a conversation that is no longer in the list', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1'), conversation('r2')];
    const s1 = await h.connect();
    h.rest.conversations = [conversation('r2')];
    s1.serverClose(1006);
    const s2 = await h.connect();
    expect(s2.frames('hello')[0]?.resume).toEqual({ r2: 0 });
  });
});

describe('dedupe and gap fill', () => {
  it('emits each (conv, seq) once', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    for (const seq of [1, 2, 2, 1, 3, 3]) s.receive({ op: 'msg', ...message('r1', seq) });
    expect(h.received.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('fills a seq jump from history and does not duplicate the late live copy', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    h.rest.seed('r1', 10);
    const s = await h.connect();
    s.receive({ op: 'msg', ...message('r1', 1) });
    s.receive({ op: 'msg', ...message('r1', 5) });
    await settle();
    expect(h.rest.requests).toContain('GET /api/v1/conversations/r1/messages?after=1&limit=3');
    expect(h.received.map((m) => m.seq)).toEqual([1, 5, 2, 3, 4]);
    expect(h.client.cursorOf('r1')).toBe(5);
    s.receive({ op: 'msg', ...message('r1', 3) });
    s.receive({ op: 'msg', ...message('r1', 6) });
    expect(h.received.map((m) => m.seq)).toEqual([1, 5, 2, 3, 4, 6]);
  });

  it('reads a gap frame through history, page by page', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1', { lastSeq: 600 })];
    h.rest.seed('r1', 600);
    const s = await h.connect({ synced: false });
    s.receive({ op: 'gap', conv: 'r1', fromSeq: 1, toSeq: 400 });
    for (let seq = 401; seq <= 600; seq++) s.receive({ op: 'msg', ...message('r1', seq) });
    s.receive({ op: 'synced' });
    await settle();
    const seqs = h.received.map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(new Set(h.received.map((m) => m.seq)).size).toBe(600);
    expect(h.client.cursorOf('r1')).toBe(600);
    const historyCalls = h.rest.requests.filter((r) => r.includes('/messages'));
    expect(historyCalls.length).toBeGreaterThanOrEqual(2);
    expect(historyCalls.every((r) => /limit=(\d+)/.exec(r)?.[1] !== undefined && Number(/limit=(\d+)/.exec(r)?.[1]) <= 200)).toBe(true);
  });

  it('retries a failed fill later', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    h.rest.seed('r1', 4);
    const s = await h.connect();
    h.rest.failWith = { status: 503, code: 'unavailable' };
    s.receive({ op: 'msg', ...message('r1', 4) });
    await settle();
    expect(h.client.cursorOf('r1')).toBe(0);
    h.rest.failWith = null;
    await advance(5_000);
    expect(h.client.cursorOf('r1')).toBe(4);
    expect(h.received.map((m) => m.seq)).toEqual([4, 1, 2, 3]);
  });

  it('loads the newest messages of a conversation announced mid-session', async () => {
    const h = setup({ initialBacklog: 5 });
    const s = await h.connect();
    h.rest.seed('r9', 12);
    s.receive({ op: 'conversation', conversation: conversation('r9', { lastSeq: 12, deliveredSeq: 0 }) });
    await settle();
    expect(h.received.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const h2 = setup({ initialBacklog: 5 });
    const s2 = await h2.connect();
    h2.rest.seed('r9', 12);
    s2.receive({ op: 'conversation', conversation: conversation('r9', { lastSeq: 12, deliveredSeq: 12 }) });
    await settle();
    expect(h2.received.map((m) => m.seq)).toEqual([8, 9, 10, 11, 12]);
  });
});

describe('send until acked', () => {
  it('sends with a clientMsgId and reports the ack', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    const id = h.client.send('r1', 'hello there');
    expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(s.frames('send')).toEqual([{ op: 'send', conv: 'r1', clientMsgId: id, body: 'hello there' }]);
    s.receive({ op: 'ack', conv: 'r1', clientMsgId: id, seq: 1, ts: 1 });
    expect(h.acks).toEqual([{ clientMsgId: id, seq: 1 }]);
    expect(h.client.pendingSends()).toEqual([]);
  });

  it('holds sends made while disconnected and resends unacked ones after reconnect with the same id', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    const early = h.client.send('r1', 'before connecting');
    const s1 = await h.connect();
    expect(s1.frames('send').map((f) => f.clientMsgId)).toEqual([early]);
    const lost = h.client.send('r1', 'lost in the crash');
    s1.serverClose(1006);
    const s2 = await h.connect();
    expect(s2.frames('send').map((f) => f.clientMsgId)).toEqual([early, lost]);
    // The msg echo of our own send counts as its ack when it comes first.
    s2.receive({ op: 'msg', ...message('r1', 1, { from: 'u-me', clientMsgId: early }) });
    s2.receive({ op: 'ack', conv: 'r1', clientMsgId: early, seq: 1, ts: 1 });
    s2.receive({ op: 'ack', conv: 'r1', clientMsgId: lost, seq: 2, ts: 2 });
    expect(h.acks).toEqual([
      { clientMsgId: early, seq: 1 },
      { clientMsgId: lost, seq: 2 },
    ]);
  });

  it('resends after the ack timeout', async () => {
    const h = setup({ ackTimeoutMs: 2_000 });
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    const id = h.client.send('r1', 'anyone?');
    await advance(1_000);
    expect(s.frames('send')).toHaveLength(1);
    await advance(1_500);
    expect(s.frames('send').map((f) => f.clientMsgId)).toEqual([id, id]);
  });

  it('retries rate_limited sends and gives up on invalid ones', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    const slow = h.client.send('r1', 'too fast');
    const bad = h.client.send('r1', 'x'.repeat(5000));
    s.receive({ op: 'error', ref: slow, code: 'rate_limited', message: 'slow down' });
    s.receive({ op: 'error', ref: bad, code: 'too_large', message: 'too long' });
    expect(h.failures).toEqual([{ clientMsgId: bad, code: 'too_large' }]);
    await advance(2_000);
    expect(s.frames('send').filter((f) => f.clientMsgId === slow)).toHaveLength(2);
    expect(s.frames('send').filter((f) => f.clientMsgId === bad)).toHaveLength(1);
    expect(h.client.pendingSends().map((p) => p.clientMsgId)).toEqual([slow]);
  });
});

describe('watermarks and typing', () => {
  it('batches delivered watermarks at the highest contiguous seq', async () => {
    const h = setup({ flushIntervalMs: 300 });
    h.rest.conversations = [conversation('r1')];
    h.rest.seed('r1', 0);
    const s = await h.connect();
    for (const seq of [1, 2, 3]) s.receive({ op: 'msg', ...message('r1', seq) });
    h.rest.failWith = { status: 503, code: 'unavailable' };
    s.receive({ op: 'msg', ...message('r1', 6) });
    expect(s.frames('delivered')).toEqual([]);
    await advance(300);
    expect(s.frames('delivered')).toEqual([{ op: 'delivered', conv: 'r1', seq: 3 }]);
    await advance(900);
    expect(s.frames('delivered')).toHaveLength(1);
  });

  it('sends read for what it holds, once', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1', { lastSeq: 2, deliveredSeq: 2, readSeq: 1 })];
    const s = await h.connect();
    s.receive({ op: 'msg', ...message('r1', 1) });
    s.receive({ op: 'msg', ...message('r1', 2) });
    h.client.markRead('r1');
    h.client.markRead('r1');
    expect(s.frames('read')).toEqual([{ op: 'read', conv: 'r1', seq: 2 }]);
    await advance(600);
    // read raised delivered too: no separate delivered frame is needed.
    expect(s.frames('delivered')).toEqual([]);
  });

  it('throttles typing frames', async () => {
    const h = setup({ typingIntervalMs: 2_500 });
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    h.client.typing('r1');
    h.client.typing('r1');
    await advance(1_000);
    h.client.typing('r1');
    expect(s.frames('typing')).toHaveLength(1);
    await advance(2_000);
    h.client.typing('r1');
    expect(s.frames('typing')).toHaveLength(2);
    // Sending a message ends the typing spell: typing again is announced at once.
    h.client.send('r1', 'done');
    h.client.typing('r1');
    expect(s.frames('typing')).toHaveLength(3);
  });

  it('forgets a conversation the user left', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1'), conversation('r2')];
    const s = await h.connect();
    const forgotten: string[] = [];
    h.client.on('forgotten', (f) => forgotten.push(f.conv));
    s.receive({ op: 'member', conv: 'r1', userId: 'u-me', username: 'me', change: 'left' });
    s.receive({ op: 'member', conv: 'r2', userId: 'u-bob', username: 'bob', change: 'left' });
    expect(forgotten).toEqual(['r1']);
    expect(h.client.cursorOf('r1')).toBeUndefined();
    expect(h.client.cursorOf('r2')).toBe(0);
  });
});

describe('reconnect', () => {
  it('backs off exponentially with jitter and resets after a sync', async () => {
    let r = 0.999;
    const h = setup({ backoff: { baseMs: 100, maxMs: 1_000, jitter: 0.5 }, random: () => r });
    h.rest.failWith = { status: 503, code: 'unavailable' };
    h.client.start();
    await advance(5_000);
    const delays = h.states.filter((x) => x.state === 'waiting').map((x) => x.retryInMs);
    // Full jitter 0.5 with random ≈ 1: half of each ceiling 100, 200, 400, 800, 1000 (capped).
    expect(delays.slice(0, 6)).toEqual([50, 100, 200, 400, 500, 500]);
    r = 0;
    h.rest.failWith = null;
    await advance(1_000);
    const s = h.socket();
    s.open();
    s.receive(welcome);
    s.receive({ op: 'synced' });
    s.serverClose(1012);
    await settle();
    expect(h.states.at(-1)).toEqual({ state: 'waiting', attempt: 0, retryInMs: 100 });
  });

  it('drops a socket that never gets a welcome and tries again', async () => {
    const h = setup({ welcomeTimeoutMs: 1_000 });
    h.client.start();
    await settle();
    h.socket().open();
    await advance(1_000);
    // Not 1000: the node must not take a reconnect for a sign-off (that would end the user's presence grace).
    expect(h.sockets[0]?.closedByClient?.code).toBe(4000);
    await advance(1_000);
    expect(h.sockets).toHaveLength(2);
  });

  it('reconnects when the heartbeat is lost', async () => {
    const h = setup();
    const s = await h.connect();
    await advance(25_000);
    expect(s.frames('ping')).toHaveLength(1);
    await advance(2 * 25_000 + 5_000);
    expect(s.closedByClient?.code).toBe(4000);
    await advance(1_000);
    expect(h.sockets.length).toBeGreaterThanOrEqual(2);
  });

  it('closes with 1000 when stopped: the user signed off', async () => {
    const h = setup();
    const s = await h.connect();
    h.client.stop();
    expect(s.closedByClient?.code).toBe(1000);
    expect(h.client.state).toBe('stopped');
  });

  it('stops on close 4001 and on a refused token', async () => {
    const h = setup();
    const s = await h.connect();
    s.receive({ op: 'error', ref: 'hello', code: 'unauthorized', message: 'token expired' });
    s.serverClose(4001, 'token expired');
    await advance(60_000);
    expect(h.unauthorizedCount()).toBe(1);
    expect(h.client.state).toBe('stopped');
    expect(h.sockets).toHaveLength(1);

    const h2 = setup();
    h2.rest.failWith = { status: 401, code: 'unauthorized' };
    h2.client.start();
    await advance(10_000);
    expect(h2.unauthorizedCount()).toBe(1);
    expect(h2.sockets).toHaveLength(0);
  });

  it('ignores unknown ops and malformed frames', async () => {
    const h = setup();
    h.rest.conversations = [conversation('r1')];
    const s = await h.connect();
    s.receive({ op: 'future-op', x: 1 });
    s.receiveRaw('{not json');
    s.receive({ op: 'msg', conv: 'r1', seq: 'one' } as Record<string, unknown>);
    s.receive({ op: 'msg', ...message('r1', 1) });
    expect(h.received.map((m) => m.seq)).toEqual([1]);
    expect(h.client.state).toBe('online');
  });
});

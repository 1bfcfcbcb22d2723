import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';
import { SeqCursor } from './cursor';
import { parseServerFrame } from './frames';
import { isValidId, newClientMsgId } from './ids';
import { ApiError, RestClient } from './rest';

describe('SeqCursor', () => {
  it('advances over contiguous seqs and holds early ones', () => {
    const c = new SeqCursor(0);
    expect(c.accept(1)).toBe(true);
    expect(c.accept(3)).toBe(true);
    expect(c.cursor).toBe(1);
    expect(c.missing()).toEqual({ from: 2, to: 2 });
    expect(c.accept(2)).toBe(true);
    expect(c.cursor).toBe(3);
    expect(c.missing()).toBeNull();
  });

  it('refuses duplicates below and above the cursor', () => {
    const c = new SeqCursor(10);
    expect(c.accept(10)).toBe(false);
    expect(c.accept(13)).toBe(true);
    expect(c.accept(13)).toBe(false);
    expect(c.highest).toBe(13);
    expect(c.missing()).toEqual({ from: 11, to: 12 });
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap, jitter shortening at most by the jitter fraction', () => {
    const policy = { baseMs: 100, maxMs: 1_000, jitter: 0.5 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, policy, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(300);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe('ids', () => {
  it('makes distinct ids that follow the protocol rule', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newClientMsgId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isValidId(id)).toBe(true);
    expect(isValidId('has space')).toBe(false);
    expect(isValidId('x'.repeat(65))).toBe(false);
  });
});

describe('parseServerFrame', () => {
  it('keeps known frames and drops malformed or unknown ones', () => {
    expect(parseServerFrame('{"op":"synced"}')).toEqual({ op: 'synced' });
    expect(parseServerFrame('{"op":"gap","conv":"r","fromSeq":1,"toSeq":9}')).toEqual({ op: 'gap', conv: 'r', fromSeq: 1, toSeq: 9 });
    expect(parseServerFrame('{"op":"gap","conv":"r","fromSeq":-1,"toSeq":9}')).toBeNull();
    expect(parseServerFrame('{"op":"receipt","conv":"r","userId":"u","kind":"seen","seq":1}')).toBeNull();
    expect(parseServerFrame('{"op":"shiny"}')).toBeNull();
    expect(parseServerFrame('[1,2]')).toBeNull();
    expect(parseServerFrame('nope')).toBeNull();
    expect(parseServerFrame('{"op":"error","ref":null,"code":"invalid","message":"bad"}')).toEqual({ op: 'error', ref: null, code: 'invalid', message: 'bad' });
  });
});

describe('RestClient', () => {
  it('sends the bearer token and maps error bodies to ApiError', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const rest = new RestClient({
      baseUrl: 'http://h:1/',
      token: () => 'tkn',
      fetch: async (url, init) => {
        seen.push({ url, auth: new Headers(init?.headers).get('Authorization') });
        return new Response(JSON.stringify({ error: { code: 'forbidden', message: 'only the owner' } }), { status: 403 });
      },
    });
    const error = await rest.addMember('r 1', 'bob').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: 'forbidden', message: 'only the owner' });
    expect(seen).toEqual([{ url: 'http://h:1/api/v1/rooms/r%201/members', auth: 'Bearer tkn' }]);
  });

  it('reports an unreachable server as a network error and login without a token', async () => {
    const auths: (string | null)[] = [];
    const rest = new RestClient({
      token: () => 'tkn',
      fetch: async (_url, init) => {
        auths.push(new Headers(init?.headers).get('Authorization'));
        throw new TypeError('fetch failed');
      },
    });
    await expect(rest.login('alice', 'password1')).rejects.toMatchObject({ code: 'network' });
    expect(auths).toEqual([null]);
  });

  it('builds history queries', async () => {
    const urls: string[] = [];
    const rest = new RestClient({
      fetch: async (url) => {
        urls.push(url);
        return new Response(JSON.stringify({ messages: [], hasMore: false }), { status: 200 });
      },
    });
    expect(await rest.history('c1', { before: 50, limit: 20 })).toEqual({ messages: [], hasMore: false });
    expect(urls).toEqual(['/api/v1/conversations/c1/messages?before=50&limit=20']);
  });
});

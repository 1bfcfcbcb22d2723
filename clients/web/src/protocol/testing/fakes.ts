// Test doubles for the protocol client: a scriptable WebSocket and an in-memory REST server.
import type { WebSocketLike } from '../client';
import type { ClientFrame, Conversation, Message, ServerFrame } from '../types';

/** A WebSocket the test drives: it records what the client sends and delivers frames and closes on demand. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: ClientFrame[] = [];
  closedByClient: { code?: number | undefined; reason?: string | undefined } | null = null;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data) as ClientFrame);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.closedByClient = { code, reason };
  }

  // ---- the server's side ----

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  receive(frame: ServerFrame | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }

  receiveRaw(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }

  /** Frames of one op the client sent. */
  frames<Op extends ClientFrame['op']>(op: Op): Extract<ClientFrame, { op: Op }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { op: Op }> => f.op === op);
  }
}

/** Builds a message of `conv` with `seq`. */
export function message(conv: string, seq: number, overrides: Partial<Message> = {}): Message {
  return {
    conv,
    seq,
    id: `m${conv}${seq}`,
    from: 'u-bob',
    fromName: 'bob',
    body: `message ${seq}`,
    ts: 1_700_000_000_000 + seq * 1000,
    clientMsgId: `c${conv}${seq}`,
    node: 'node-1',
    ...overrides,
  };
}

export function conversation(id: string, overrides: Partial<Conversation> = {}): Conversation {
  return { id, kind: 'room', name: `room ${id}`, private: false, lastSeq: 0, readSeq: 0, deliveredSeq: 0, unread: 0, memberCount: 2, ...overrides };
}

/**
 * An in-memory REST backend: the conversation list and each conversation's messages. Records every request; answers
 * history queries like the server (ascending seq, `after`/`before`/`limit`).
 */
export class FakeRest {
  conversations: Conversation[] = [];
  readonly messages = new Map<string, Message[]>();
  readonly requests: string[] = [];
  /** When set, every request answers with this status and error code. */
  failWith: { status: number; code: string } | null = null;

  /** Stores messages 1..n of `conv`. */
  seed(conv: string, n: number): Message[] {
    const list = Array.from({ length: n }, (_, i) => message(conv, i + 1));
    this.messages.set(conv, list);
    return list;
  }

  readonly fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input, 'http://parley.test');
    const method = init?.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.search}`);
    if (this.failWith) return json(this.failWith.status, { error: { code: this.failWith.code, message: 'refused' } });
    if (method === 'GET' && url.pathname === '/api/v1/conversations') return json(200, this.conversations);
    const history = /^\/api\/v1\/conversations\/([^/]+)\/messages$/.exec(url.pathname);
    if (method === 'GET' && history?.[1]) {
      const all = this.messages.get(decodeURIComponent(history[1]));
      if (!all) return json(404, { error: { code: 'not_found', message: 'no such conversation' } });
      const after = Number(url.searchParams.get('after') ?? -1);
      const before = Number(url.searchParams.get('before') ?? Number.MAX_SAFE_INTEGER);
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const matching = all.filter((m) => m.seq > after && m.seq < before);
      const page = url.searchParams.has('before') && !url.searchParams.has('after') ? matching.slice(-limit) : matching.slice(0, limit);
      return json(200, { messages: page, hasMore: matching.length > page.length });
    }
    return json(404, { error: { code: 'not_found', message: 'no such endpoint' } });
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

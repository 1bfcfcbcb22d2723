import { backoffDelay, defaultBackoff, type BackoffPolicy } from './backoff';
import { SeqCursor } from './cursor';
import { Emitter } from './emitter';
import { parseServerFrame } from './frames';
import { newClientMsgId } from './ids';
import { ApiError, RestClient, type FetchLike } from './rest';
import {
  CloseCodes,
  type ClientFrame,
  type Conversation,
  type ErrorFrame,
  type MemberFrame,
  type Message,
  type PresenceFrame,
  type ReceiptFrame,
  type ServerFrame,
  type TypingFrame,
  type WelcomeFrame,
} from './types';

/** The part of the browser WebSocket API the client uses (so tests can hand in a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
}

/**
 * `connecting`: fetching the conversation list and opening the socket; `syncing`: welcomed, receiving the backlog;
 * `online`: synced and live; `waiting`: disconnected, retrying after a delay; `stopped`: stopped or unauthorized.
 */
export type ConnectionState = 'idle' | 'connecting' | 'syncing' | 'online' | 'waiting' | 'stopped';

export interface StateChange {
  state: ConnectionState;
  /** Reconnect attempts since the last successful sync. */
  attempt: number;
  /** When `state` is `waiting`: the delay before the next attempt. */
  retryInMs?: number;
}

/** Where a message came from: the socket (live or resume backlog) or history (gap fill). */
export type MessageSource = 'live' | 'fill';

export interface ClientEvents {
  state: StateChange;
  welcome: WelcomeFrame;
  synced: undefined;
  /** The full conversation list, fetched on every (re)connect. */
  conversations: Conversation[];
  /** A conversation the user just gained (created, joined, was added to, or a new DM). */
  conversation: Conversation;
  /** Each (conv, seq) exactly once per client. */
  message: { message: Message; source: MessageSource };
  /** A send was stored (from its ack, or from its own msg echo when that came first). */
  ack: { conv: string; clientMsgId: string; seq: number; ts: number };
  /** A send was refused for good (invalid, not a member, too large…); it will not be retried. */
  sendFailed: { conv: string; clientMsgId: string; code: string; message: string };
  receipt: ReceiptFrame;
  typing: TypingFrame;
  presence: PresenceFrame;
  member: MemberFrame;
  /** The user is no longer a member of `conv` (left it): its cursor is forgotten. */
  forgotten: { conv: string };
  serverError: ErrorFrame;
  /** The token was refused: the client has stopped; log in again. */
  unauthorized: { message: string };
}

export interface ParleyClientOptions {
  token: string;
  /** Origin of the node (`http://host:port`); empty or absent for the page's own origin. */
  baseUrl?: string;
  /** WebSocket URL; derived from `baseUrl` (or the page's origin) when absent. */
  wsUrl?: string;
  fetch?: FetchLike;
  webSocket?: (url: string) => WebSocketLike;
  /** Random source for backoff jitter, in [0, 1). */
  random?: () => number;
  backoff?: BackoffPolicy;
  /** How many of each conversation's newest messages to load on first sight (previews and a first page). */
  initialBacklog?: number;
  /** How often delivered watermarks (and due retries) are flushed. */
  flushIntervalMs?: number;
  /** A send without an ack after this long is sent again with the same clientMsgId. */
  ackTimeoutMs?: number;
  /** A socket that is not welcomed within this time is dropped and retried. */
  welcomeTimeoutMs?: number;
  /** At most one typing frame per conversation per this interval. */
  typingIntervalMs?: number;
}

interface PendingSend {
  conv: string;
  clientMsgId: string;
  body: string;
  /** When it was last written to a socket; null when it must be (re)sent. */
  sentAt: number | null;
  /** Not before this time (after a retryable refusal). */
  retryAt: number;
  attempts: number;
}

interface CloseInfo {
  code: number;
  reason: string;
}

const retryableSendErrors = new Set(['rate_limited', 'unavailable']);
/** Our own close code for a socket we drop (no welcome, heartbeat lost). */
const clientDropCode = 4000;

/**
 * A Parley protocol v1 client: one WebSocket with hello/resume, reconnect with exponential backoff and jitter,
 * send-until-acked with a stable clientMsgId, dedupe by (conv, seq), gap fill from history, batched delivered
 * watermarks, and typed events. UI-agnostic: it runs in a browser or in Node with a WebSocket implementation.
 */
export class ParleyClient {
  readonly rest: RestClient;
  private readonly events = new Emitter<ClientEvents>();
  private readonly options: Required<Omit<ParleyClientOptions, 'baseUrl' | 'wsUrl' | 'fetch' | 'webSocket'>>;
  private readonly wsUrl: string;
  private readonly createSocket: (url: string) => WebSocketLike;

  private readonly cursors = new Map<string, SeqCursor>();
  private readonly fillTargets = new Map<string, number>();
  private readonly filling = new Set<string>();
  private readonly deliveredSent = new Map<string, number>();
  private readonly readSent = new Map<string, number>();
  private readonly readWanted = new Map<string, number>();
  private readonly typingSentAt = new Map<string, number>();
  private readonly pending = new Map<string, PendingSend>();

  private socket: WebSocketLike | null = null;
  private dropSocket: ((info: CloseInfo) => void) | null = null;
  private welcomed = false;
  private heartbeatMs = 25_000;
  private lastFrameAt = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private welcomeTimer: ReturnType<typeof setTimeout> | null = null;
  private flushTimer: ReturnType<typeof setInterval> | null = null;
  private wake: (() => void) | null = null;
  private running = false;
  private stopped = false;
  private attempt = 0;
  private currentState: ConnectionState = 'idle';
  private me: { userId: string; username: string } | null = null;

  constructor(options: ParleyClientOptions) {
    this.options = {
      token: options.token,
      random: options.random ?? Math.random,
      backoff: options.backoff ?? defaultBackoff,
      initialBacklog: options.initialBacklog ?? 30,
      flushIntervalMs: options.flushIntervalMs ?? 300,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      welcomeTimeoutMs: options.welcomeTimeoutMs ?? 10_000,
      typingIntervalMs: options.typingIntervalMs ?? 2_500,
    };
    const restOptions: ConstructorParameters<typeof RestClient>[0] = { token: () => this.options.token };
    if (options.baseUrl !== undefined) restOptions.baseUrl = options.baseUrl;
    if (options.fetch !== undefined) restOptions.fetch = options.fetch;
    this.rest = new RestClient(restOptions);
    this.wsUrl = options.wsUrl ?? deriveWsUrl(options.baseUrl);
    this.createSocket = options.webSocket ?? ((url) => new WebSocket(url));
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The user, once welcomed. */
  get user(): { userId: string; username: string } | null {
    return this.me;
  }

  /** The highest seq of `conv` below which this client holds everything (undefined for an unknown conversation). */
  cursorOf(conv: string): number | undefined {
    return this.cursors.get(conv)?.cursor;
  }

  /** clientMsgIds sent but not yet acknowledged, oldest first. */
  pendingSends(): { conv: string; clientMsgId: string; body: string }[] {
    return [...this.pending.values()].map(({ conv, clientMsgId, body }) => ({ conv, clientMsgId, body }));
  }

  /** Connects, and keeps reconnecting until {@link stop}. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.flushTimer = setInterval(() => this.tick(), this.options.flushIntervalMs);
    void this.run();
  }

  /** Closes the socket and stops reconnecting. Pending sends are abandoned. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.dropSocket?.({ code: CloseCodes.normal, reason: 'stopped' });
    this.wake?.();
    this.setState('stopped');
  }

  /** Skips the current backoff delay (e.g. when the browser reports it is online again). */
  reconnectNow(): void {
    this.wake?.();
  }

  /**
   * Sends a message until it is acknowledged (resending after reconnects and ack timeouts; the server dedupes by
   * clientMsgId). Returns the clientMsgId; pass one to retry an earlier send under the same id.
   */
  send(conv: string, body: string, clientMsgId: string = newClientMsgId()): string {
    const entry: PendingSend = { conv, clientMsgId, body, sentAt: null, retryAt: 0, attempts: 0 };
    // Receivers clear the typing line when the message lands: the next keystroke must announce typing again.
    this.typingSentAt.delete(conv);
    this.pending.set(clientMsgId, entry);
    this.transmit(entry);
    return clientMsgId;
  }

  /** Marks everything this client holds of `conv` as read (sent now when connected, else after the next sync). */
  markRead(conv: string): void {
    const cursor = this.cursors.get(conv);
    if (!cursor) return;
    const seq = cursor.cursor;
    if (seq <= (this.readSent.get(conv) ?? 0) || seq <= (this.readWanted.get(conv) ?? 0)) return;
    this.readWanted.set(conv, seq);
    this.flushWatermarks();
  }

  /** Tells the other members the user is typing (throttled). */
  typing(conv: string): void {
    const now = Date.now();
    if (!this.welcomed || now - (this.typingSentAt.get(conv) ?? -Infinity) < this.options.typingIntervalMs) return;
    this.typingSentAt.set(conv, now);
    this.write({ op: 'typing', conv });
  }

  /**
   * Starts following a conversation the user gained through a REST call (create, join, DM): loads its newest
   * messages through history. Idempotent; the `conversation` frame that follows is then a no-op.
   */
  adopt(conversation: Conversation): void {
    this.track(conversation, true);
  }

  /** Forgets a conversation the user left. */
  forget(conv: string): void {
    if (!this.cursors.delete(conv)) return;
    this.fillTargets.delete(conv);
    this.deliveredSent.delete(conv);
    this.readSent.delete(conv);
    this.readWanted.delete(conv);
    for (const [id, p] of this.pending) if (p.conv === conv) this.pending.delete(id);
    this.events.emit('forgotten', { conv });
  }

  // ---- connection loop ----

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.setState('connecting');
      let close: CloseInfo = { code: 0, reason: '' };
      try {
        const list = await this.rest.conversations();
        if (this.stopped) break;
        this.reconcile(list);
        close = await this.connectOnce();
      } catch (error) {
        if (error instanceof ApiError && error.code === 'unauthorized') {
          this.unauthorized(error.message);
          break;
        }
        close = { code: 0, reason: error instanceof Error ? error.message : String(error) };
      }
      if (this.stopped) break;
      if (close.code === CloseCodes.unauthorized) {
        this.unauthorized(close.reason || 'token refused');
        break;
      }
      let delay = backoffDelay(this.attempt, this.options.backoff, this.options.random);
      if (close.code === CloseCodes.flooding) delay = Math.max(delay, 5_000);
      this.setState('waiting', delay);
      this.attempt++;
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /** Opens one socket, says hello with every cursor, and resolves when it closes. */
  private connectOnce(): Promise<CloseInfo> {
    return new Promise((resolve) => {
      const ws = this.createSocket(this.wsUrl);
      this.socket = ws;
      let finished = false;
      const finish = (info: CloseInfo): void => {
        if (finished) return;
        finished = true;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        if (this.welcomeTimer !== null) clearTimeout(this.welcomeTimer);
        if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
        this.welcomeTimer = this.heartbeatTimer = null;
        this.socket = null;
        this.dropSocket = null;
        this.welcomed = false;
        // Anything written to the dead socket may be lost: resend every unacknowledged message after the next hello.
        for (const p of this.pending.values()) p.sentAt = null;
        if (ws.readyState === 0 || ws.readyState === 1) {
          try {
            // 1000 (normal closure) tells the node the user signed off: offline at once. A socket dropped to reconnect
            // (no welcome, heartbeat lost) closes with 4000, so the user stays online through the node's presence grace.
            ws.close(info.code === CloseCodes.normal ? CloseCodes.normal : clientDropCode, info.reason);
          } catch {
            // Already closing.
          }
        }
        resolve(info);
      };
      this.dropSocket = finish;
      this.welcomeTimer = setTimeout(() => finish({ code: clientDropCode, reason: 'no welcome in time' }), this.options.welcomeTimeoutMs);
      ws.onopen = () => {
        const resume: Record<string, number> = {};
        for (const [conv, cursor] of this.cursors) resume[conv] = cursor.cursor;
        this.write({ op: 'hello', token: this.options.token, resume });
      };
      ws.onmessage = (ev) => {
        this.lastFrameAt = Date.now();
        if (typeof ev.data !== 'string') return;
        const frame = parseServerFrame(ev.data);
        if (frame) this.handle(frame);
      };
      ws.onclose = (ev) => finish({ code: ev.code, reason: ev.reason });
      ws.onerror = () => {
        // A close event follows.
      };
    });
  }

  private handle(frame: ServerFrame): void {
    switch (frame.op) {
      case 'welcome':
        this.onWelcome(frame);
        break;
      case 'synced':
        this.attempt = 0;
        this.setState('online');
        this.events.emit('synced', undefined);
        break;
      case 'msg': {
        const { op: _op, ...message } = frame;
        this.accept(message, 'live');
        break;
      }
      case 'ack':
        this.acknowledge(frame.conv, frame.clientMsgId, frame.seq, frame.ts);
        break;
      case 'gap':
        if (!this.cursors.has(frame.conv)) this.cursors.set(frame.conv, new SeqCursor(Math.max(0, frame.fromSeq - 1)));
        this.fillTargets.set(frame.conv, Math.max(this.fillTargets.get(frame.conv) ?? 0, frame.toSeq));
        void this.fill(frame.conv);
        break;
      case 'receipt':
        if (this.me && frame.userId === this.me.userId) {
          // Another device of ours moved a watermark: never send a lower one.
          raise(this.deliveredSent, frame.conv, frame.seq);
          if (frame.kind === 'read') raise(this.readSent, frame.conv, frame.seq);
        }
        this.events.emit('receipt', frame);
        break;
      case 'typing':
        this.events.emit('typing', frame);
        break;
      case 'presence':
        this.events.emit('presence', frame);
        break;
      case 'member':
        this.events.emit('member', frame);
        if (this.me && frame.userId === this.me.userId && frame.change === 'left') this.forget(frame.conv);
        break;
      case 'conversation':
        this.track(frame.conversation, true);
        this.events.emit('conversation', frame.conversation);
        break;
      case 'error':
        this.onError(frame);
        break;
      case 'pong':
        break;
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    if (this.welcomeTimer !== null) clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    this.me = { userId: frame.userId, username: frame.username };
    this.welcomed = true;
    this.heartbeatMs = Math.max(1_000, frame.heartbeatMs);
    this.lastFrameAt = Date.now();
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.setState('syncing');
    this.events.emit('welcome', frame);
    for (const p of this.pending.values()) this.transmit(p);
    this.flushWatermarks();
  }

  private onError(frame: ErrorFrame): void {
    const ref = frame.ref;
    const send = ref !== null ? this.pending.get(ref) : undefined;
    if (send) {
      if (retryableSendErrors.has(frame.code)) {
        send.sentAt = null;
        send.retryAt = Date.now() + backoffDelay(send.attempts, this.options.backoff, this.options.random);
      } else {
        this.pending.delete(send.clientMsgId);
        this.events.emit('sendFailed', { conv: send.conv, clientMsgId: send.clientMsgId, code: frame.code, message: frame.message });
      }
      return;
    }
    if (frame.code === 'unauthorized' && ref === 'hello') {
      // The server closes with 4001 next; the loop stops there.
      return;
    }
    this.events.emit('serverError', frame);
  }

  private heartbeat(): void {
    if (Date.now() - this.lastFrameAt > 2 * this.heartbeatMs + 5_000) {
      this.dropSocket?.({ code: clientDropCode, reason: 'heartbeat lost' });
      return;
    }
    this.write({ op: 'ping', t: Date.now() });
  }

  // ---- messages, dedupe and gap fill ----

  /** Takes a message from the socket or history; emits it when it is new. */
  private accept(message: Message, source: MessageSource): void {
    let cursor = this.cursors.get(message.conv);
    if (!cursor) {
      // A conversation gained between our list and hello: its line starts here.
      cursor = new SeqCursor(message.seq - 1);
      this.cursors.set(message.conv, cursor);
      void this.refreshConversations();
    }
    if (!cursor.accept(message.seq)) return;
    if (this.me && message.from === this.me.userId) this.acknowledge(message.conv, message.clientMsgId, message.seq, message.ts);
    this.events.emit('message', { message, source });
    if (cursor.missing()) void this.fill(message.conv);
  }

  private async fill(conv: string): Promise<void> {
    if (this.filling.has(conv) || this.stopped) return;
    this.filling.add(conv);
    let retry = false;
    try {
      for (;;) {
        const cursor = this.cursors.get(conv);
        if (!cursor || this.stopped) return;
        const hole = cursor.missing();
        const target = Math.max(this.fillTargets.get(conv) ?? 0, hole ? hole.to : 0);
        if (target <= cursor.cursor) {
          this.fillTargets.delete(conv);
          return;
        }
        const page = await this.rest.history(conv, { after: cursor.cursor, limit: Math.min(200, target - cursor.cursor) });
        if (page.messages.length === 0) return;
        const before = cursor.cursor;
        for (const m of page.messages) if (m.conv === conv) this.accept(m, 'fill');
        if (cursor.cursor === before) return;
      }
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') this.forget(conv);
      else if (error instanceof ApiError && error.code === 'unauthorized') this.unauthorized(error.message);
      else retry = true;
    } finally {
      this.filling.delete(conv);
    }
    if (retry && !this.stopped) setTimeout(() => void this.fill(conv), backoffDelay(2, this.options.backoff, this.options.random));
  }

  private track(conversation: Conversation, loadNewest: boolean): void {
    raise(this.deliveredSent, conversation.id, conversation.deliveredSeq);
    raise(this.readSent, conversation.id, conversation.readSeq);
    if (this.cursors.has(conversation.id)) return;
    const start = Math.max(0, Math.min(conversation.deliveredSeq, conversation.lastSeq - this.options.initialBacklog));
    this.cursors.set(conversation.id, new SeqCursor(start));
    if (loadNewest && conversation.lastSeq > start) {
      // The server streams this conversation from its current head; what came before is read through history.
      this.fillTargets.set(conversation.id, conversation.lastSeq);
      void this.fill(conversation.id);
    }
  }

  /** Before each hello: follow every conversation of the list, forget the ones no longer in it. */
  private reconcile(list: Conversation[]): void {
    const ids = new Set(list.map((c) => c.id));
    for (const conv of [...this.cursors.keys()]) if (!ids.has(conv)) this.forget(conv);
    // The hello's resume brings each one's backlog; no history reads needed.
    for (const c of list) this.track(c, false);
    this.events.emit('conversations', list);
  }

  private async refreshConversations(): Promise<void> {
    try {
      const list = await this.rest.conversations();
      for (const c of list) this.track(c, false);
      this.events.emit('conversations', list);
    } catch {
      // The next reconnect reconciles.
    }
  }

  // ---- sends and watermarks ----

  private transmit(p: PendingSend): void {
    if (!this.welcomed || Date.now() < p.retryAt) return;
    p.sentAt = Date.now();
    p.attempts++;
    this.write({ op: 'send', conv: p.conv, clientMsgId: p.clientMsgId, body: p.body });
  }

  private acknowledge(conv: string, clientMsgId: string, seq: number, ts: number): void {
    const p = this.pending.get(clientMsgId);
    if (!p || p.conv !== conv) return;
    this.pending.delete(clientMsgId);
    this.events.emit('ack', { conv, clientMsgId, seq, ts });
  }

  private tick(): void {
    if (!this.welcomed) return;
    const now = Date.now();
    for (const p of this.pending.values()) {
      if (p.sentAt === null ? now >= p.retryAt : now - p.sentAt >= this.options.ackTimeoutMs) this.transmit(p);
    }
    this.flushWatermarks();
  }

  private flushWatermarks(): void {
    if (!this.welcomed) return;
    for (const [conv, cursor] of this.cursors) {
      const read = this.readWanted.get(conv);
      if (read !== undefined) {
        this.readWanted.delete(conv);
        if (read > (this.readSent.get(conv) ?? 0)) {
          this.write({ op: 'read', conv, seq: read });
          raise(this.readSent, conv, read);
          raise(this.deliveredSent, conv, read);
        }
      }
      if (cursor.cursor > (this.deliveredSent.get(conv) ?? 0)) {
        this.write({ op: 'delivered', conv, seq: cursor.cursor });
        raise(this.deliveredSent, conv, cursor.cursor);
      }
    }
  }

  private write(frame: ClientFrame): void {
    const ws = this.socket;
    if (!ws || ws.readyState !== 1) return;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // The close event follows; unacknowledged sends are resent after the next hello.
    }
  }

  private unauthorized(message: string): void {
    this.events.emit('unauthorized', { message });
    this.stop();
  }

  private setState(state: ConnectionState, retryInMs?: number): void {
    this.currentState = state;
    const change: StateChange = { state, attempt: this.attempt };
    if (retryInMs !== undefined) change.retryInMs = retryInMs;
    this.events.emit('state', change);
  }
}

function raise(map: Map<string, number>, key: string, value: number): void {
  if (value > (map.get(key) ?? 0)) map.set(key, value);
}

function deriveWsUrl(baseUrl: string | undefined): string {
  if (baseUrl) return `${baseUrl.replace(/\/$/, '').replace(/^http/, 'ws')}/ws`;
  const { protocol, host } = globalThis.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/ws`;
}

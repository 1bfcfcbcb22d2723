import type { Conversation, Message, ParleyClient, Stats, StateChange } from '../protocol';
import { mergeMessages, type Watermarks } from './messages';

/** A message the user sent that is not (yet) in the conversation's stored line. */
export interface Outgoing {
  clientMsgId: string;
  body: string;
  createdAt: number;
  status: 'pending' | 'sent' | 'failed';
  seq?: number;
  error?: string;
}

export interface Typist {
  username: string;
  until: number;
}

/** Everything the UI shows of one conversation. */
export interface ConversationView {
  info: Conversation;
  /** Stored messages held, ascending by seq, one per seq. */
  messages: Message[];
  outgoing: Outgoing[];
  /** Other members' watermarks, from receipts seen since this page loaded. */
  receipts: Record<string, Watermarks>;
  typing: Record<string, Typist>;
  loadingOlder: boolean;
  olderError: string | null;
}

export interface ChatState {
  me: { userId: string; username: string };
  connection: StateChange;
  /** True once a sync completed: later disconnects show as "reconnecting". */
  everSynced: boolean;
  /** The node the socket is attached to. */
  node: string | null;
  conversations: Record<string, ConversationView>;
  presence: Record<string, boolean>;
  stats: Stats | null;
  activeId: string | null;
  visible: boolean;
  /** Set when the server refused the token: the app returns to the login screen. */
  sessionExpired: boolean;
}

const typingShowMs = 5_000;
const statsEveryMs = 10_000;

/**
 * The UI's state: conversations, messages, optimistic sends, receipts, typing and presence, fed by a
 * {@link ParleyClient}. Immutable snapshots for React's useSyncExternalStore; actions call the client.
 */
export class ChatStore {
  private state: ChatState;
  private readonly listeners = new Set<() => void>();
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private statsSoon: ReturnType<typeof setTimeout> | null = null;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    readonly client: ParleyClient,
    me: { userId: string; username: string },
  ) {
    this.state = {
      me,
      connection: { state: client.state, attempt: 0 },
      everSynced: false,
      node: null,
      conversations: {},
      presence: {},
      stats: null,
      activeId: null,
      visible: true,
      sessionExpired: false,
    };
    this.wire();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getState = (): ChatState => this.state;

  /** Connects and starts the periodic work (stats, typing expiry). */
  start(): void {
    this.client.start();
    void this.refreshStats();
    this.timers.push(setInterval(() => void this.refreshStats(), statsEveryMs));
    this.timers.push(setInterval(() => this.expireTyping(), 1_000));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    if (this.statsSoon !== null) clearTimeout(this.statsSoon);
    for (const u of this.unsubscribe) u();
    this.client.stop();
  }

  // ---- actions ----

  /** Shows a conversation (null for none) and marks it read when the page is visible. */
  open(conv: string | null): void {
    this.set({ ...this.state, activeId: conv }, true);
    this.markReadIfShown(conv);
  }

  setVisible(visible: boolean): void {
    this.set({ ...this.state, visible });
    this.markReadIfShown(this.state.activeId);
  }

  send(conv: string, body: string): void {
    const clientMsgId = this.client.send(conv, body);
    this.updateConv(conv, (v) => ({ ...v, outgoing: [...v.outgoing, { clientMsgId, body, createdAt: Date.now(), status: 'pending' }] }), true);
  }

  retry(conv: string, clientMsgId: string): void {
    const entry = this.state.conversations[conv]?.outgoing.find((o) => o.clientMsgId === clientMsgId);
    if (!entry) return;
    this.client.send(conv, entry.body, clientMsgId);
    this.updateOutgoing(conv, clientMsgId, (o) => withoutError({ ...o, status: 'pending' }), true);
  }

  discard(conv: string, clientMsgId: string): void {
    this.updateConv(conv, (v) => ({ ...v, outgoing: v.outgoing.filter((o) => o.clientMsgId !== clientMsgId) }), true);
  }

  typing(conv: string): void {
    this.client.typing(conv);
  }

  /** Loads a page of history before the oldest message held (infinite scroll). */
  async loadOlder(conv: string, limit = 50): Promise<void> {
    const view = this.state.conversations[conv];
    if (!view || view.loadingOlder || !hasOlder(view)) return;
    const before = view.messages[0]?.seq ?? view.info.lastSeq + 1;
    this.updateConv(conv, (v) => ({ ...v, loadingOlder: true, olderError: null }));
    try {
      const page = await this.client.rest.history(conv, { before, limit });
      this.updateConv(conv, (v) => ({ ...v, messages: mergeMessages(v.messages, page.messages), loadingOlder: false }));
    } catch (error) {
      this.updateConv(conv, (v) => ({ ...v, loadingOlder: false, olderError: error instanceof Error ? error.message : 'failed' }));
    }
  }

  async createRoom(name: string, isPrivate: boolean): Promise<Conversation> {
    return this.gained(await this.client.rest.createRoom(name, isPrivate));
  }

  async joinRoom(id: string): Promise<Conversation> {
    return this.gained(await this.client.rest.joinRoom(id));
  }

  async openDm(username: string): Promise<Conversation> {
    return this.gained(await this.client.rest.openDm(username));
  }

  async addMember(conv: string, username: string): Promise<void> {
    // The member count follows from the `member` event every member (the owner included) receives; taking it from
    // this answer too would count the join twice when the event arrives after the answer.
    await this.client.rest.addMember(conv, username);
  }

  async leaveRoom(conv: string): Promise<void> {
    await this.client.rest.leaveRoom(conv);
    this.client.forget(conv);
    this.removeConv(conv);
  }

  // ---- events ----

  private wire(): void {
    const c = this.client;
    this.unsubscribe.push(
      c.on('state', (s) => this.set({ ...this.state, connection: s })),
      c.on('welcome', (w) => this.set({ ...this.state, node: w.node, me: { userId: w.userId, username: w.username } })),
      c.on('synced', () => {
        this.set({ ...this.state, everSynced: true });
        this.markReadIfShown(this.state.activeId);
        void this.refreshStats();
      }),
      c.on('conversations', (list) => this.mergeList(list)),
      c.on('conversation', (conv) => this.addConv(conv)),
      c.on('forgotten', ({ conv }) => this.removeConv(conv)),
      c.on('message', ({ message }) => this.onMessage(message)),
      c.on('ack', ({ conv, clientMsgId, seq }) => {
        const view = this.state.conversations[conv];
        if (view?.messages.some((m) => m.clientMsgId === clientMsgId && m.from === this.state.me.userId)) return;
        this.updateOutgoing(conv, clientMsgId, (o) => withoutError({ ...o, status: 'sent', seq }));
      }),
      c.on('sendFailed', ({ conv, clientMsgId, message }) => this.updateOutgoing(conv, clientMsgId, (o) => ({ ...o, status: 'failed', error: message }))),
      c.on('receipt', (r) => {
        if (r.userId === this.state.me.userId) {
          this.updateConv(r.conv, (v) => ({
            ...v,
            info: {
              ...v.info,
              deliveredSeq: Math.max(v.info.deliveredSeq, r.seq),
              readSeq: r.kind === 'read' ? Math.max(v.info.readSeq, r.seq) : v.info.readSeq,
            },
          }));
          return;
        }
        this.updateConv(r.conv, (v) => {
          const w = v.receipts[r.userId] ?? { delivered: 0, read: 0 };
          const next = r.kind === 'read' ? { delivered: Math.max(w.delivered, r.seq), read: Math.max(w.read, r.seq) } : { ...w, delivered: Math.max(w.delivered, r.seq) };
          return { ...v, receipts: { ...v.receipts, [r.userId]: next } };
        });
      }),
      c.on('typing', (t) => {
        if (t.userId === this.state.me.userId) return;
        this.updateConv(t.conv, (v) => ({ ...v, typing: { ...v.typing, [t.userId]: { username: t.username, until: Date.now() + typingShowMs } } }));
      }),
      c.on('presence', (p) => {
        this.refreshStatsSoon();
        const online = p.status === 'online';
        const conversations = { ...this.state.conversations };
        for (const [id, v] of Object.entries(conversations)) {
          if (v.info.peer?.userId === p.userId && v.info.peer.online !== online) conversations[id] = { ...v, info: { ...v.info, peer: { ...v.info.peer, online } } };
        }
        this.set({ ...this.state, conversations, presence: { ...this.state.presence, [p.userId]: online } });
      }),
      c.on('member', (m) => {
        if (m.userId === this.state.me.userId) return;
        this.refreshStatsSoon();
        this.updateConv(m.conv, (v) => {
          if (m.change === 'joined') return { ...v, info: { ...v.info, memberCount: v.info.memberCount + 1 } };
          const { [m.userId]: _gone, ...receipts } = v.receipts;
          return { ...v, receipts, info: { ...v.info, memberCount: Math.max(1, v.info.memberCount - 1) } };
        });
      }),
      c.on('unauthorized', () => this.set({ ...this.state, sessionExpired: true })),
    );
  }

  private onMessage(message: Message): void {
    const mine = message.from === this.state.me.userId;
    this.updateConv(message.conv, (v) => {
      const { [message.from]: _typist, ...typing } = v.typing;
      return {
        ...v,
        messages: mergeMessages(v.messages, [message]),
        outgoing: mine ? v.outgoing.filter((o) => o.clientMsgId !== message.clientMsgId) : v.outgoing,
        typing,
        info: { ...v.info, lastSeq: Math.max(v.info.lastSeq, message.seq) },
      };
    });
    if (message.conv === this.state.activeId) this.markReadIfShown(message.conv);
  }

  private markReadIfShown(conv: string | null): void {
    if (!conv || !this.state.visible || conv !== this.state.activeId) return;
    const view = this.state.conversations[conv];
    const cursor = this.client.cursorOf(conv);
    if (!view || cursor === undefined || cursor <= view.info.readSeq) return;
    this.client.markRead(conv);
    this.updateConv(conv, (v) => ({ ...v, info: { ...v.info, readSeq: Math.max(v.info.readSeq, cursor) } }));
  }

  private gained(conv: Conversation): Conversation {
    this.client.adopt(conv);
    this.addConv(conv);
    return conv;
  }

  private mergeList(list: Conversation[]): void {
    const conversations: Record<string, ConversationView> = {};
    for (const info of list) {
      const existing = this.state.conversations[info.id];
      conversations[info.id] = existing ? { ...existing, info: mergeInfo(existing.info, info) } : emptyView(info);
    }
    this.set({ ...this.state, conversations });
  }

  private addConv(info: Conversation): void {
    const existing = this.state.conversations[info.id];
    this.set({
      ...this.state,
      conversations: { ...this.state.conversations, [info.id]: existing ? { ...existing, info: mergeInfo(existing.info, info) } : emptyView(info) },
    });
  }

  private removeConv(conv: string): void {
    if (!(conv in this.state.conversations)) return;
    const { [conv]: _gone, ...conversations } = this.state.conversations;
    this.set({ ...this.state, conversations, activeId: this.state.activeId === conv ? null : this.state.activeId });
  }

  private expireTyping(): void {
    const now = Date.now();
    for (const [id, v] of Object.entries(this.state.conversations)) {
      const live = Object.entries(v.typing).filter(([, t]) => t.until > now);
      if (live.length !== Object.keys(v.typing).length) this.updateConv(id, (x) => ({ ...x, typing: Object.fromEntries(live) }));
    }
  }

  /** Someone came or went: re-read the online count shortly (once for a burst of presence frames). */
  private refreshStatsSoon(): void {
    if (this.statsSoon !== null) return;
    this.statsSoon = setTimeout(() => {
      this.statsSoon = null;
      void this.refreshStats();
    }, 500);
  }

  private async refreshStats(): Promise<void> {
    try {
      const stats = await this.client.rest.stats();
      this.set({ ...this.state, stats });
    } catch {
      // Shown as unknown until the next poll.
    }
  }

  // ---- plumbing ----

  private updateConv(conv: string, change: (v: ConversationView) => ConversationView, now = false): void {
    const view = this.state.conversations[conv];
    if (!view) return;
    this.set({ ...this.state, conversations: { ...this.state.conversations, [conv]: change(view) } }, now);
  }

  private updateOutgoing(conv: string, clientMsgId: string, change: (o: Outgoing) => Outgoing, now = false): void {
    this.updateConv(conv, (v) => ({ ...v, outgoing: v.outgoing.map((o) => (o.clientMsgId === clientMsgId ? change(o) : o)) }), now);
  }

  /**
   * Replaces the state. What the network brings is coalesced (a resume backlog is hundreds of frames) into one render
   * 16 ms later; what the user did (`now`) renders at once, so the next keystroke lands in what they just opened.
   */
  private set(next: ChatState, now = false): void {
    this.state = next;
    if (now) {
      this.notify();
      return;
    }
    if (this.notifyTimer !== null) return;
    this.notifyTimer = setTimeout(() => this.notify(), 16);
  }

  private notify(): void {
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer);
    this.notifyTimer = null;
    for (const l of [...this.listeners]) l();
  }
}

/** True when messages older than the oldest one held exist (seqs are gapless from 1). */
export function hasOlder(view: ConversationView): boolean {
  const oldest = view.messages[0]?.seq;
  return oldest === undefined ? view.info.lastSeq > 0 : oldest > 1;
}

function emptyView(info: Conversation): ConversationView {
  return { info, messages: [], outgoing: [], receipts: {}, typing: {}, loadingOlder: false, olderError: null };
}

function mergeInfo(old: Conversation, fresh: Conversation): Conversation {
  return {
    ...fresh,
    lastSeq: Math.max(old.lastSeq, fresh.lastSeq),
    readSeq: Math.max(old.readSeq, fresh.readSeq),
    deliveredSeq: Math.max(old.deliveredSeq, fresh.deliveredSeq),
  };
}

function withoutError(o: Outgoing): Outgoing {
  const { error: _error, ...rest } = o;
  return rest;
}

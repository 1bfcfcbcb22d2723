import { describe, expect, it } from 'vitest';
import { ParleyClient } from '../protocol';
import { conversation, message } from '../protocol/testing/fakes';
import { mergeMessages, ownMessageStatus } from './messages';
import { summaries, typingText, unreadOf } from './selectors';
import { ChatStore, hasOlder, type ChatState, type ConversationView } from './store';

function view(overrides: Partial<ConversationView> = {}): ConversationView {
  return { info: conversation('r1'), messages: [], outgoing: [], receipts: {}, typing: {}, loadingOlder: false, olderError: null, ...overrides };
}

describe('mergeMessages', () => {
  it('keeps ascending seq order with one entry per seq', () => {
    const merged = mergeMessages([message('r', 3), message('r', 4)], [message('r', 1), message('r', 4), message('r', 2), message('r', 5)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(mergeMessages([message('r', 1)], [message('r', 2)]).map((m) => m.seq)).toEqual([1, 2]);
  });
});

describe('ownMessageStatus', () => {
  it('is sent, then delivered, then read by all others (read by N on the way)', () => {
    expect(ownMessageStatus(5, {}, 'me', 3)).toEqual({ tick: 'sent', readBy: 0 });
    expect(ownMessageStatus(5, { me: { delivered: 9, read: 9 } }, 'me', 3)).toEqual({ tick: 'sent', readBy: 0 });
    expect(ownMessageStatus(5, { a: { delivered: 5, read: 0 } }, 'me', 3)).toEqual({ tick: 'delivered', readBy: 0 });
    expect(ownMessageStatus(5, { a: { delivered: 5, read: 5 }, b: { delivered: 4, read: 4 } }, 'me', 3)).toEqual({ tick: 'delivered', readBy: 1 });
    expect(ownMessageStatus(5, { a: { delivered: 5, read: 5 }, b: { delivered: 7, read: 6 } }, 'me', 3)).toEqual({ tick: 'read', readBy: 2 });
    // A DM: the peer's read is everyone's.
    expect(ownMessageStatus(2, { peer: { delivered: 2, read: 2 } }, 'me', 2)).toEqual({ tick: 'read', readBy: 1 });
  });
});

describe('selectors', () => {
  it('counts unread after the read watermark and knows when older history exists', () => {
    expect(unreadOf(view({ info: conversation('r1', { lastSeq: 10, readSeq: 4 }) }))).toBe(6);
    expect(hasOlder(view({ info: conversation('r1', { lastSeq: 10 }) }))).toBe(true);
    expect(hasOlder(view({ info: conversation('r1', { lastSeq: 0 }) }))).toBe(false);
    expect(hasOlder(view({ messages: [message('r1', 1), message('r1', 2)] }))).toBe(false);
    expect(hasOlder(view({ messages: [message('r1', 7)] }))).toBe(true);
  });

  it('words the typing line', () => {
    const now = 1_000;
    expect(typingText(view(), now)).toBeNull();
    expect(typingText(view({ typing: { a: { username: 'ann', until: 2_000 } } }), now)).toBe('ann is typing…');
    expect(typingText(view({ typing: { a: { username: 'ann', until: 2_000 }, b: { username: 'ben', until: 2_000 } } }), now)).toBe('ann and ben are typing…');
    expect(typingText(view({ typing: { a: { username: 'ann', until: 500 } } }), now)).toBeNull();
  });

  it('orders the list by latest activity and titles DMs by the peer', () => {
    const state = {
      me: { userId: 'u-me', username: 'me' },
      activeId: null,
      visible: true,
      conversations: {
        old: view({ info: conversation('old', { name: 'Old room', lastSeq: 3, readSeq: 1 }), messages: [message('old', 3, { ts: 100 })] }),
        dm: view({
          info: conversation('dm', { kind: 'dm', name: '', peer: { userId: 'u-p', username: 'pat', online: true } }),
          outgoing: [{ clientMsgId: 'c1', body: 'draft', createdAt: 500, status: 'pending' }],
        }),
        empty: view({ info: conversation('empty', { name: 'Empty' }) }),
      },
    } as unknown as ChatState;
    const list = summaries(state);
    expect(list.map((c) => c.title)).toEqual(['pat', 'Old room', 'Empty']);
    expect(list[0]).toMatchObject({ lastText: 'draft', lastFrom: 'me', online: true, unread: 0 });
    expect(list[1]).toMatchObject({ lastText: 'message 3', unread: 2, online: null });
  });
});

describe('ChatStore notifications', () => {
  // Never started: no socket, no timers; only the store's own bookkeeping runs.
  const store = (): ChatStore => new ChatStore(new ParleyClient({ token: 't', baseUrl: 'http://parley.test' }), { userId: 'u1', username: 'ann' });

  it('renders what the user did at once, so a keystroke right after a click lands in the conversation opened', () => {
    const s = store();
    let renders = 0;
    s.subscribe(() => renders++);
    s.open('r1');
    expect(renders).toBe(1);
    expect(s.getState().activeId).toBe('r1');
  });

  it('coalesces background changes (frames from the network, page visibility) into one render', async () => {
    const s = store();
    let renders = 0;
    s.subscribe(() => renders++);
    s.setVisible(false);
    s.setVisible(true);
    expect(renders).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(renders).toBe(1);
  });
});

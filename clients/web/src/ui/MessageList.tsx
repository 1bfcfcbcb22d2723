import { useEffect, useLayoutEffect, useRef } from 'react';
import type { Message } from '../protocol';
import { ownMessageStatus, type Tick } from '../state/messages';
import { hasOlder, type ConversationView, type Outgoing } from '../state/store';
import { dayKey, dayLabel, formatTime } from './format';
import { useChatState, useChatStore } from './useStore';

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'msg'; key: string; message: Message; showSender: boolean }
  | { kind: 'out'; key: string; outgoing: Outgoing };

const groupWithinMs = 5 * 60_000;
const loadOlderWithinPx = 150;
const stickWithinPx = 80;

/** Stored messages, then the user's unstored ones, with a separator at each new day. */
export function buildRows(messages: readonly Message[], outgoing: readonly Outgoing[], now: number = Date.now()): Row[] {
  const rows: Row[] = [];
  let lastDay: number | null = null;
  let prev: Message | null = null;
  const addDay = (ts: number): boolean => {
    const day = dayKey(ts);
    if (day === lastDay) return false;
    lastDay = day;
    rows.push({ kind: 'day', key: `day-${day}`, label: dayLabel(ts, now) });
    return true;
  };
  for (const m of messages) {
    const newDay = addDay(m.ts);
    const showSender = newDay || prev === null || prev.from !== m.from || m.ts - prev.ts > groupWithinMs;
    rows.push({ kind: 'msg', key: `s${m.seq}`, message: m, showSender });
    prev = m;
  }
  const stored = new Set(messages.map((m) => m.clientMsgId));
  for (const o of outgoing) {
    if (stored.has(o.clientMsgId)) continue;
    addDay(o.createdAt);
    rows.push({ kind: 'out', key: `o${o.clientMsgId}`, outgoing: o });
  }
  return rows;
}

export function MessageList({ view }: { view: ConversationView }) {
  const store = useChatStore();
  const { me } = useChatState();
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const lastHeight = useRef(0);
  const firstSeq = useRef<number | undefined>(undefined);
  const conv = view.info.id;
  const older = hasOlder(view);
  const rows = buildRows(view.messages, view.outgoing);

  // Keep the reader's place: after older messages are prepended, shift by the added height; when the reader was at
  // the bottom, follow new messages.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = view.messages[0]?.seq;
    if (firstSeq.current !== undefined && first !== undefined && first < firstSeq.current && !atBottom.current) {
      el.scrollTop += el.scrollHeight - lastHeight.current;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    firstSeq.current = first;
    lastHeight.current = el.scrollHeight;
  });

  // Fill the viewport: while the list does not scroll yet and older messages exist, load them.
  useEffect(() => {
    const el = scroller.current;
    if (el && older && !view.loadingOlder && view.olderError === null && el.scrollHeight <= el.clientHeight + loadOlderWithinPx) {
      void store.loadOlder(conv);
    }
  });

  const onScroll = (): void => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < stickWithinPx;
    lastHeight.current = el.scrollHeight;
    if (el.scrollTop < loadOlderWithinPx && older && !view.loadingOlder) void store.loadOlder(conv);
  };

  return (
    <div className="messages" ref={scroller} onScroll={onScroll} tabIndex={0} aria-label="Messages">
      {older ? (
        <p className="history-edge">
          {view.olderError ? (
            <button type="button" className="link" onClick={() => void store.loadOlder(conv)}>
              Could not load older messages — retry
            </button>
          ) : (
            'Loading older messages…'
          )}
        </p>
      ) : (
        view.messages.length > 0 && <p className="history-edge">Start of the conversation</p>
      )}
      <ol className="message-rows" role="log" aria-live="polite" aria-relevant="additions">
        {rows.map((row) => {
          if (row.kind === 'day') {
            return (
              <li key={row.key} className="day-separator">
                <span>{row.label}</span>
              </li>
            );
          }
          if (row.kind === 'out') return <OutgoingBubble key={row.key} conv={conv} outgoing={row.outgoing} />;
          const m = row.message;
          const mine = m.from === me.userId;
          const status = mine ? ownMessageStatus(m.seq, view.receipts, me.userId, view.info.memberCount) : null;
          return (
            <li key={row.key} className={`message${mine ? ' mine' : ''}${row.showSender ? ' first' : ''}`} data-seq={m.seq} data-status={status?.tick}>
              {row.showSender && !mine && <span className="sender">{m.fromName}</span>}
              <div className="bubble">
                <p className="body">{m.body}</p>
                <span className="meta">
                  <span className="node" title={`Accepted by node ${m.node}`}>
                    {m.node}
                  </span>
                  <time dateTime={new Date(m.ts).toISOString()} title={new Date(m.ts).toLocaleString()}>
                    {formatTime(m.ts)}
                  </time>
                  {status && <Ticks tick={status.tick} readBy={view.info.kind === 'room' ? status.readBy : null} />}
                </span>
              </div>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function OutgoingBubble({ conv, outgoing }: { conv: string; outgoing: Outgoing }) {
  const store = useChatStore();
  return (
    <li className="message mine outgoing" data-status={outgoing.status === 'failed' ? 'failed' : outgoing.status} data-client-msg-id={outgoing.clientMsgId}>
      <div className="bubble">
        <p className="body">{outgoing.body}</p>
        <span className="meta">
          <time dateTime={new Date(outgoing.createdAt).toISOString()}>{formatTime(outgoing.createdAt)}</time>
          <Ticks tick={outgoing.status} readBy={null} />
        </span>
      </div>
      {outgoing.status === 'failed' && (
        <p className="send-error" role="alert">
          Not sent: {outgoing.error ?? 'refused'}{' '}
          <button type="button" className="link" onClick={() => store.retry(conv, outgoing.clientMsgId)}>
            Retry
          </button>{' '}
          <button type="button" className="link" onClick={() => store.discard(conv, outgoing.clientMsgId)}>
            Discard
          </button>
        </p>
      )}
    </li>
  );
}

const tickText: Record<Tick, { mark: string; label: string }> = {
  pending: { mark: '◷', label: 'Sending' },
  failed: { mark: '!', label: 'Not sent' },
  sent: { mark: '✓', label: 'Sent' },
  delivered: { mark: '✓✓', label: 'Delivered' },
  read: { mark: '✓✓', label: 'Read' },
};

/** pending → sent → delivered → read; in rooms "Read by N" once someone has read it. */
function Ticks({ tick, readBy }: { tick: Tick; readBy: number | null }) {
  const { mark, label } = tickText[tick];
  const readByText = readBy !== null && readBy > 0 ? `Read by ${readBy}` : null;
  return (
    <span className={`ticks ${tick}`} data-testid="ticks" title={readByText ?? label}>
      <span aria-hidden="true">{mark}</span>
      <span className={readByText ? 'read-by' : 'sr-only'}>{readByText ?? label}</span>
    </span>
  );
}

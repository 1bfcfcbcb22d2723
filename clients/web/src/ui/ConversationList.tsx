import { summaries } from '../state/selectors';
import { listTime } from './format';
import { useChatState } from './useStore';

export function ConversationList({ activeId, onOpen }: { activeId: string | null; onOpen: (id: string) => void }) {
  const state = useChatState();
  const items = summaries(state);
  if (items.length === 0) {
    return <p className="list-empty">No conversations yet. Create a room, browse public rooms, or message someone.</p>;
  }
  return (
    <ul className="conversations">
      {items.map((c) => (
        <li key={c.id}>
          <button
            type="button"
            className={`conversation${c.id === activeId ? ' active' : ''}`}
            aria-current={c.id === activeId ? 'true' : undefined}
            data-conv={c.id}
            onClick={() => onOpen(c.id)}
          >
            <span className="avatar" aria-hidden="true">
              {c.kind === 'room' ? '#' : c.title.slice(0, 1).toUpperCase()}
              {c.online !== null && <span className={`dot ${c.online ? 'online' : 'offline'}`} />}
            </span>
            <span className="conversation-text">
              <span className="conversation-top">
                <span className="conversation-title">
                  <bdi>{c.title}</bdi>
                  {c.isPrivate && c.kind === 'room' && <span className="tag">private</span>}
                </span>
                {c.lastTs !== null && <time className="conversation-time">{listTime(c.lastTs)}</time>}
              </span>
              <span className="conversation-bottom">
                <span className="conversation-last">
                  {c.typing ? (
                    <em>typing…</em>
                  ) : c.lastText === null ? (
                    <em>No messages yet</em>
                  ) : c.kind === 'room' && c.lastFrom ? (
                    <>
                      <bdi>{c.lastFrom}</bdi>: <bdi>{c.lastText}</bdi>
                    </>
                  ) : (
                    <bdi>{c.lastText}</bdi>
                  )}
                </span>
                {c.unread > 0 && (
                  <span className="badge" aria-label={`${c.unread} unread`}>
                    {c.unread > 99 ? '99+' : c.unread}
                  </span>
                )}
              </span>
              {c.online !== null && <span className="sr-only">{c.online ? 'online' : 'offline'}</span>}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

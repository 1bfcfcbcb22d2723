import { useState, type KeyboardEvent } from 'react';
import { typingText, titleOf } from '../state/selectors';
import type { ConversationView } from '../state/store';
import { Composer } from './Composer';
import { AddMemberDialog, LeaveDialog } from './dialogs';
import { MessageList } from './MessageList';

/** One open conversation: header with its actions, the message list, who is typing, and the composer. */
export function ChatView({ view, onBack }: { view: ConversationView; onBack: () => void }) {
  const [dialog, setDialog] = useState<'add' | 'leave' | null>(null);
  const { info } = view;
  const title = titleOf(view);
  const typing = typingText(view);

  const onKeyDown = (e: KeyboardEvent): void => {
    // Escape leaves the conversation view (dialogs handle their own Escape first).
    if (e.key === 'Escape' && !e.defaultPrevented && dialog === null) {
      e.preventDefault();
      onBack();
    }
  };

  return (
    <section className="chat" aria-labelledby="chat-title" onKeyDown={onKeyDown}>
      <header className="chat-header">
        <button type="button" className="back" onClick={onBack} aria-label="Back to conversations">
          ‹
        </button>
        <div className="chat-title">
          <h2 id="chat-title">
            {info.kind === 'room' ? <span aria-hidden="true"># </span> : null}
            <bdi>{title}</bdi>
          </h2>
          <p className="chat-subtitle">
            {info.kind === 'dm' ? (
              <span data-testid="peer-presence" data-online={info.peer?.online ? 'true' : 'false'}>
                <span className={`dot ${info.peer?.online ? 'online' : 'offline'}`} aria-hidden="true" />
                {info.peer?.online ? 'online' : 'offline'}
              </span>
            ) : (
              <>
                {info.memberCount} {info.memberCount === 1 ? 'member' : 'members'} · {info.private ? 'private' : 'public'}
              </>
            )}
          </p>
        </div>
        {info.kind === 'room' && (
          <div className="chat-actions">
            <button type="button" onClick={() => setDialog('add')}>
              Add member
            </button>
            <button type="button" onClick={() => setDialog('leave')}>
              Leave
            </button>
          </div>
        )}
      </header>
      <MessageList view={view} />
      <p className="typing" aria-live="polite" data-testid="typing">
        {typing ?? ''}
      </p>
      <Composer conv={info.id} label={`Message ${info.kind === 'room' ? '#' : ''}${title}`} />
      {info.kind === 'room' && (
        <>
          <AddMemberDialog open={dialog === 'add'} conv={info.id} onClose={() => setDialog(null)} />
          <LeaveDialog open={dialog === 'leave'} conv={info.id} name={title} onClose={() => setDialog(null)} />
        </>
      )}
    </section>
  );
}

import { useEffect, useState } from 'react';
import { ParleyClient } from '../protocol';
import { unreadOf } from '../state/selectors';
import type { Session } from '../state/session';
import { ChatStore } from '../state/store';
import { ChatView } from './ChatView';
import { ConversationList } from './ConversationList';
import { ConnectionBanner, TopBar } from './TopBar';
import { NewDmDialog, NewRoomDialog } from './dialogs';
import { RoomDirectory } from './RoomDirectory';
import { StoreContext, useChatState, useChatStore } from './useStore';

/** Owns the protocol client and the store for one session. */
export function ChatApp({ session, onSignOut }: { session: Session; onSignOut: (reason: string | null) => void }) {
  const [store, setStore] = useState<ChatStore | null>(null);

  useEffect(() => {
    const client = new ParleyClient({ token: session.token });
    const created = new ChatStore(client, { userId: session.userId, username: session.username });
    created.start();
    setStore(created);
    const onVisibility = (): void => created.setVisible(document.visibilityState === 'visible');
    const onOnline = (): void => client.reconnectNow();
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('online', onOnline);
    onVisibility();
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('online', onOnline);
      created.stop();
    };
  }, [session]);

  if (!store) return null;
  return (
    <StoreContext.Provider value={store}>
      <Shell onSignOut={onSignOut} />
    </StoreContext.Provider>
  );
}

type Panel = 'chat' | 'directory';
type Dialog = 'room' | 'dm' | null;

function Shell({ onSignOut }: { onSignOut: (reason: string | null) => void }) {
  const store = useChatStore();
  const state = useChatState();
  const [panel, setPanel] = useState<Panel>('chat');
  const [dialog, setDialog] = useState<Dialog>(null);

  useEffect(() => {
    if (state.sessionExpired) onSignOut('Your session has expired. Sign in again.');
  }, [state.sessionExpired, onSignOut]);

  const unread = Object.values(state.conversations).reduce((sum, v) => sum + (v.info.id === state.activeId && state.visible ? 0 : unreadOf(v)), 0);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Parley` : 'Parley';
    return () => {
      document.title = 'Parley';
    };
  }, [unread]);

  const open = (id: string | null): void => {
    setPanel('chat');
    store.open(id);
  };
  const active = state.activeId ? state.conversations[state.activeId] : undefined;
  const showingMain = panel === 'directory' || active !== undefined;

  return (
    <div className="app" data-pane={showingMain ? 'main' : 'list'}>
      <TopBar onSignOut={() => onSignOut(null)} />
      <ConnectionBanner />
      <div className="layout">
        <aside className="sidebar" aria-label="Conversations">
          <div className="sidebar-actions">
            <button type="button" onClick={() => setDialog('room')}>
              New room
            </button>
            <button type="button" onClick={() => setDialog('dm')}>
              New message
            </button>
            <button
              type="button"
              aria-pressed={panel === 'directory'}
              onClick={() => {
                store.open(null);
                setPanel('directory');
              }}
            >
              Browse rooms
            </button>
          </div>
          <ConversationList activeId={panel === 'chat' ? state.activeId : null} onOpen={open} />
        </aside>
        <main className="main">
          {panel === 'directory' ? (
            <RoomDirectory onOpen={open} onBack={() => setPanel('chat')} />
          ) : active ? (
            <ChatView key={active.info.id} view={active} onBack={() => open(null)} />
          ) : (
            <div className="empty-state">
              <p>Pick a conversation, or start one.</p>
            </div>
          )}
        </main>
      </div>
      <NewRoomDialog open={dialog === 'room'} onClose={() => setDialog(null)} onCreated={(id) => open(id)} />
      <NewDmDialog open={dialog === 'dm'} onClose={() => setDialog(null)} onOpened={(id) => open(id)} />
    </div>
  );
}

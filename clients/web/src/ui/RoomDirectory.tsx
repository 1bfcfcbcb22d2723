import { useCallback, useEffect, useState } from 'react';
import type { RoomSummary } from '../protocol';
import { actionErrorText } from './dialogs';
import { useChatState, useChatStore } from './useStore';

/** Public rooms: join one, or open it when already a member. */
export function RoomDirectory({ onOpen, onBack }: { onOpen: (id: string) => void; onBack: () => void }) {
  const store = useChatStore();
  const state = useChatState();
  const [rooms, setRooms] = useState<RoomSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [joining, setJoining] = useState<string | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const list = await store.client.rest.publicRooms();
      setRooms(list.sort((a, b) => b.memberCount - a.memberCount || a.name.localeCompare(b.name)));
    } catch (e) {
      setError(actionErrorText(e));
    }
  }, [store]);

  useEffect(() => {
    void load();
  }, [load]);

  const join = async (id: string): Promise<void> => {
    setJoining(id);
    setError(null);
    try {
      await store.joinRoom(id);
      onOpen(id);
    } catch (e) {
      setError(actionErrorText(e));
    } finally {
      setJoining(null);
    }
  };

  return (
    <section className="directory" aria-labelledby="directory-title">
      <header className="chat-header">
        <button type="button" className="back" onClick={onBack} aria-label="Back to conversations">
          ‹
        </button>
        <div className="chat-title">
          <h2 id="directory-title">Public rooms</h2>
        </div>
        <div className="chat-actions">
          <button type="button" onClick={() => void load()}>
            Refresh
          </button>
        </div>
      </header>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {rooms === null ? (
        <p className="list-empty">Loading…</p>
      ) : rooms.length === 0 ? (
        <p className="list-empty">No public rooms yet. Create the first one.</p>
      ) : (
        <ul className="rooms">
          {rooms.map((room) => {
            const member = room.id in state.conversations;
            return (
              <li key={room.id} className="room" data-room={room.id}>
                <span className="avatar" aria-hidden="true">
                  #
                </span>
                <span className="room-text">
                  <span className="room-name">{room.name}</span>
                  <span className="room-members">
                    {room.memberCount} {room.memberCount === 1 ? 'member' : 'members'}
                  </span>
                </span>
                {member ? (
                  <button type="button" onClick={() => onOpen(room.id)} aria-label={`Open ${room.name}`}>
                    Open
                  </button>
                ) : (
                  <button type="button" className="primary" disabled={joining !== null} onClick={() => void join(room.id)} aria-label={`Join ${room.name}`}>
                    {joining === room.id ? 'Joining…' : 'Join'}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

import { useChatState } from './useStore';

export function TopBar({ onSignOut }: { onSignOut: () => void }) {
  const state = useChatState();
  const online = state.stats?.onlineUsers;
  return (
    <header className="topbar">
      <h1 className="brand">
        <span className="brand-mark" aria-hidden="true" />
        Parley
      </h1>
      <p className="online-count" title={state.node ? `Connected to node ${state.node}` : undefined}>
        <span className="dot online" aria-hidden="true" />
        <span data-testid="online-count">{online === undefined ? '–' : online}</span> online
      </p>
      <div className="me">
        <span className="me-name" title="Signed in as">
          {state.me.username}
        </span>
        <button type="button" className="link" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

/** "Connecting…" before the first sync, "Reconnecting…" after a drop; gone once synced again. */
export function ConnectionBanner() {
  const { connection, everSynced } = useChatState();
  if (connection.state === 'online' || connection.state === 'stopped') return null;
  const text = everSynced ? 'Reconnecting…' : 'Connecting…';
  const retry = connection.state === 'waiting' && connection.retryInMs !== undefined && connection.retryInMs >= 2_000 ? ` Next try in ${Math.round(connection.retryInMs / 1000)} s.` : '';
  return (
    <div className="banner" role="status" data-testid="connection-banner">
      {text}
      {retry}
    </div>
  );
}

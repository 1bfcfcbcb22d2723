import { useState } from 'react';
import { clearSession, loadSession, saveSession, type Session } from '../state/session';
import { AuthScreen } from './AuthScreen';
import { ChatApp } from './ChatApp';

/** The root: the login screen until there is a session, then the chat. */
export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [notice, setNotice] = useState<string | null>(null);

  if (!session) {
    return (
      <AuthScreen
        notice={notice}
        onAuthenticated={(s) => {
          saveSession(s);
          setNotice(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <ChatApp
      key={session.token}
      session={session}
      onSignOut={(reason) => {
        clearSession();
        setNotice(reason);
        setSession(null);
      }}
    />
  );
}

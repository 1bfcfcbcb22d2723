import { useId, useState, type FormEvent } from 'react';
import { ApiError, RestClient } from '../protocol';
import type { Session } from '../state/session';

type Mode = 'login' | 'register';

const usernamePattern = /^[A-Za-z0-9_.-]{3,32}$/;

/** Checks the fields before asking the server; returns the problem to show, or null. */
export function validateCredentials(username: string, password: string, mode: Mode): string | null {
  if (!usernamePattern.test(username)) return 'Usernames are 3–32 characters: letters, digits, dot, dash or underscore.';
  if (mode === 'register' && [...password].length < 8) return 'Choose a password of at least 8 characters.';
  if (password.length === 0) return 'Enter your password.';
  if ([...password].length > 256) return 'Passwords are at most 256 characters.';
  return null;
}

/** A sentence for a refused login or registration. */
export function authErrorText(error: unknown, mode: Mode): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  switch (error.code) {
    case 'unauthorized':
      return 'Wrong username or password.';
    case 'conflict':
      return 'That username is taken. Pick another one.';
    case 'rate_limited':
      return 'Too many attempts. Wait a minute, then try again.';
    case 'invalid':
      return mode === 'register' ? `The server refused these details: ${error.message}` : 'Wrong username or password.';
    case 'network':
      return 'Cannot reach the server. Check your connection and try again.';
    case 'unavailable':
      return 'The server is busy. Try again in a moment.';
    default:
      return error.message;
  }
}

export function AuthScreen({ notice, onAuthenticated }: { notice: string | null; onAuthenticated: (s: Session) => void }) {
  const [mode, setMode] = useState<Mode>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errorId = useId();

  async function submit(e: FormEvent): Promise<void> {
    e.preventDefault();
    const name = username.trim();
    const problem = validateCredentials(name, password, mode);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const rest = new RestClient();
      const auth = mode === 'login' ? await rest.login(name, password) : await rest.register(name, password);
      onAuthenticated(auth);
    } catch (err) {
      setError(authErrorText(err, mode));
      setBusy(false);
    }
  }

  function switchMode(next: Mode): void {
    setMode(next);
    setError(null);
  }

  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Parley
        </h1>
        <div className="auth-tabs" role="tablist" aria-label="Sign in or create an account">
          <button type="button" role="tab" aria-selected={mode === 'login'} className={mode === 'login' ? 'active' : ''} onClick={() => switchMode('login')}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={mode === 'register'} className={mode === 'register' ? 'active' : ''} onClick={() => switchMode('register')}>
            Create account
          </button>
        </div>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <form onSubmit={(e) => void submit(e)} noValidate aria-describedby={error ? errorId : undefined}>
          <label>
            Username
            <input
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              autoFocus
              value={username}
              maxLength={32}
              onChange={(e) => setUsername(e.target.value)}
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {mode === 'register' && <p className="hint">3–32 letters, digits, dots, dashes or underscores; a password of 8 or more characters.</p>}
          {error && (
            <p className="form-error" role="alert" id={errorId}>
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Please wait…' : mode === 'login' ? 'Sign in' : 'Create account'}
          </button>
        </form>
      </div>
    </main>
  );
}

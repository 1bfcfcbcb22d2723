import type { AuthResponse } from '../protocol';

/** A logged-in session. Kept in sessionStorage (per tab, gone when the tab closes), never in a URL. */
export type Session = AuthResponse;

const key = 'parley.session';

export function loadSession(storage: Storage = sessionStorage): Session | null {
  try {
    const raw = storage.getItem(key);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || typeof s.userId !== 'string' || typeof s.username !== 'string' || typeof s.expiresAt !== 'number') return null;
    if (s.expiresAt <= Date.now()) {
      storage.removeItem(key);
      return null;
    }
    return s as Session;
  } catch {
    return null;
  }
}

export function saveSession(session: Session, storage: Storage = sessionStorage): void {
  try {
    storage.setItem(key, JSON.stringify(session));
  } catch {
    // Storage disabled: the session lives in memory for this page only.
  }
}

export function clearSession(storage: Storage = sessionStorage): void {
  try {
    storage.removeItem(key);
  } catch {
    // Nothing stored.
  }
}

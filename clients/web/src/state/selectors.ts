import type { ChatState, ConversationView } from './store';

export interface ConversationSummary {
  id: string;
  kind: 'room' | 'dm';
  title: string;
  isPrivate: boolean;
  unread: number;
  lastText: string | null;
  lastFrom: string | null;
  lastTs: number | null;
  /** DM peers only. */
  online: boolean | null;
  typing: boolean;
}

/** The title of a conversation: the room's name, or the DM peer's username. */
export function titleOf(view: ConversationView): string {
  return view.info.kind === 'dm' ? (view.info.peer?.username ?? view.info.name) : view.info.name;
}

/** Messages after the caller's read watermark (the caller's own count as read). */
export function unreadOf(view: ConversationView): number {
  return Math.max(0, view.info.lastSeq - view.info.readSeq);
}

/** "alice is typing…", "alice and bob are typing…", "3 people are typing…", or null. */
export function typingText(view: ConversationView, now: number = Date.now()): string | null {
  const names = Object.values(view.typing)
    .filter((t) => t.until > now)
    .map((t) => t.username);
  if (names.length === 0) return null;
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** The conversation list, most recent activity first. */
export function summaries(state: ChatState): ConversationSummary[] {
  const list = Object.values(state.conversations).map((view): ConversationSummary => {
    const lastStored = view.messages.at(-1);
    const lastOut = view.outgoing.at(-1);
    const useOutgoing = lastOut !== undefined && (lastStored === undefined || lastOut.createdAt >= lastStored.ts);
    return {
      id: view.info.id,
      kind: view.info.kind,
      title: titleOf(view),
      isPrivate: view.info.private,
      unread: view.info.id === state.activeId && state.visible ? 0 : unreadOf(view),
      lastText: useOutgoing ? lastOut.body : (lastStored?.body ?? null),
      lastFrom: useOutgoing ? state.me.username : (lastStored?.fromName ?? null),
      lastTs: useOutgoing ? lastOut.createdAt : (lastStored?.ts ?? null),
      online: view.info.kind === 'dm' ? (view.info.peer?.online ?? false) : null,
      typing: Object.values(view.typing).some((t) => t.until > Date.now()),
    };
  });
  return list.sort((a, b) => (b.lastTs ?? 0) - (a.lastTs ?? 0) || a.title.localeCompare(b.title));
}

import type { Message } from '../protocol';

/** Merges `incoming` into `existing` (both ascending by seq): the result is ascending with one entry per seq. */
export function mergeMessages(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  const last = existing.at(-1);
  // The common case: one live message after everything held.
  if (incoming.length === 1 && (last === undefined || incoming[0]!.seq > last.seq)) return [...existing, incoming[0]!];
  const bySeq = new Map<number, Message>();
  for (const m of existing) bySeq.set(m.seq, m);
  for (const m of incoming) if (!bySeq.has(m.seq)) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Watermarks of one member in one conversation. */
export interface Watermarks {
  delivered: number;
  read: number;
}

export type Tick = 'pending' | 'failed' | 'sent' | 'delivered' | 'read';

export interface OwnStatus {
  tick: Tick;
  /** Other members known to have read it. */
  readBy: number;
}

/**
 * The status of the caller's own stored message `seq`, from the other members' receipts: read when every other
 * member has read it, delivered when at least one device of another member has it, else sent.
 */
export function ownMessageStatus(seq: number, receipts: Readonly<Record<string, Watermarks>>, me: string, memberCount: number): OwnStatus {
  let readBy = 0;
  let deliveredTo = 0;
  for (const [userId, w] of Object.entries(receipts)) {
    if (userId === me) continue;
    if (w.read >= seq) readBy++;
    if (w.delivered >= seq || w.read >= seq) deliveredTo++;
  }
  const others = Math.max(1, memberCount - 1);
  const tick: Tick = readBy >= others ? 'read' : deliveredTo > 0 ? 'delivered' : 'sent';
  return { tick, readBy };
}

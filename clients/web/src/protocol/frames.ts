import type { Conversation, Message, ServerFrame } from './types';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** True when `v` has the shape of a protocol Message. */
export function isMessage(v: unknown): v is Message {
  return (
    isObject(v) &&
    isString(v.conv) &&
    isSeq(v.seq) &&
    isString(v.id) &&
    isString(v.from) &&
    isString(v.fromName) &&
    isString(v.body) &&
    isNumber(v.ts) &&
    isString(v.clientMsgId) &&
    isString(v.node)
  );
}

/** True when `v` has the shape of a protocol Conversation. */
export function isConversation(v: unknown): v is Conversation {
  if (
    !isObject(v) ||
    !isString(v.id) ||
    (v.kind !== 'room' && v.kind !== 'dm') ||
    !isString(v.name) ||
    typeof v.private !== 'boolean' ||
    !isSeq(v.lastSeq) ||
    !isSeq(v.readSeq) ||
    !isSeq(v.deliveredSeq) ||
    !isNumber(v.unread) ||
    !isNumber(v.memberCount)
  ) {
    return false;
  }
  const peer = v.peer;
  return peer === undefined || (isObject(peer) && isString(peer.userId) && isString(peer.username) && typeof peer.online === 'boolean');
}

/**
 * Parses one server frame. Returns null for what is not JSON, lacks the fields its op needs, or has an op this client
 * does not know (the protocol says clients ignore those).
 */
export function parseServerFrame(text: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(v) || !isString(v.op)) return null;
  const f = v;
  switch (f.op) {
    case 'welcome':
      return isString(f.userId) && isString(f.username) && isString(f.node) && isNumber(f.heartbeatMs) ? (f as unknown as ServerFrame) : null;
    case 'msg':
      return isMessage(f) ? (f as unknown as ServerFrame) : null;
    case 'ack':
      return isString(f.conv) && isString(f.clientMsgId) && isSeq(f.seq) && isNumber(f.ts) ? (f as unknown as ServerFrame) : null;
    case 'gap':
      return isString(f.conv) && isSeq(f.fromSeq) && isSeq(f.toSeq) ? (f as unknown as ServerFrame) : null;
    case 'synced':
      return { op: 'synced' };
    case 'receipt':
      return isString(f.conv) && isString(f.userId) && (f.kind === 'delivered' || f.kind === 'read') && isSeq(f.seq) ? (f as unknown as ServerFrame) : null;
    case 'typing':
      return isString(f.conv) && isString(f.userId) && isString(f.username) ? (f as unknown as ServerFrame) : null;
    case 'presence':
      return isString(f.userId) && (f.status === 'online' || f.status === 'offline') ? (f as unknown as ServerFrame) : null;
    case 'member':
      return isString(f.conv) && isString(f.userId) && isString(f.username) && (f.change === 'joined' || f.change === 'left') ? (f as unknown as ServerFrame) : null;
    case 'conversation':
      return isConversation(f.conversation) ? (f as unknown as ServerFrame) : null;
    case 'error':
      return isString(f.code) && (f.ref === null || f.ref === undefined || isString(f.ref))
        ? { op: 'error', ref: isString(f.ref) ? f.ref : null, code: f.code, message: isString(f.message) ? f.message : '' }
        : null;
    case 'pong':
      return isNumber(f.t) ? { op: 'pong', t: f.t } : { op: 'pong' };
    default:
      return null;
  }
}

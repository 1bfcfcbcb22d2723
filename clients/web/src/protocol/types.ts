// The wire types of Parley protocol v1 (shared/protocol.md): REST bodies and WebSocket frames.

/** Error codes shared by REST answers and WebSocket error frames. */
export type ErrorCode =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable';

export interface AuthResponse {
  userId: string;
  username: string;
  token: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

export interface Peer {
  userId: string;
  username: string;
  online: boolean;
}

export type ConversationKind = 'room' | 'dm';

export interface Conversation {
  id: string;
  kind: ConversationKind;
  name: string;
  private: boolean;
  lastSeq: number;
  readSeq: number;
  deliveredSeq: number;
  unread: number;
  memberCount: number;
  peer?: Peer;
}

export interface RoomSummary {
  id: string;
  name: string;
  memberCount: number;
}

export interface Message {
  conv: string;
  seq: number;
  id: string;
  from: string;
  fromName: string;
  body: string;
  ts: number;
  clientMsgId: string;
  /** The id of the node that accepted the message. */
  node: string;
}

export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
}

export interface Stats {
  onlineUsers: number;
  connections: number;
  node: string;
  nodes: { id: string; connections: number }[];
}

// ---- client → server frames ----

export type ClientFrame =
  | { op: 'hello'; token: string; resume?: Record<string, number> }
  | { op: 'send'; conv: string; clientMsgId: string; body: string }
  | { op: 'delivered'; conv: string; seq: number }
  | { op: 'read'; conv: string; seq: number }
  | { op: 'typing'; conv: string }
  | { op: 'ping'; t?: number };

// ---- server → client frames ----

export interface WelcomeFrame {
  op: 'welcome';
  userId: string;
  username: string;
  node: string;
  heartbeatMs: number;
}
export type MsgFrame = { op: 'msg' } & Message;
export interface AckFrame {
  op: 'ack';
  conv: string;
  clientMsgId: string;
  seq: number;
  ts: number;
}
export interface GapFrame {
  op: 'gap';
  conv: string;
  fromSeq: number;
  toSeq: number;
}
export interface SyncedFrame {
  op: 'synced';
}
export type ReceiptKind = 'delivered' | 'read';
export interface ReceiptFrame {
  op: 'receipt';
  conv: string;
  userId: string;
  kind: ReceiptKind;
  seq: number;
}
export interface TypingFrame {
  op: 'typing';
  conv: string;
  userId: string;
  username: string;
}
export interface PresenceFrame {
  op: 'presence';
  userId: string;
  status: 'online' | 'offline';
}
export interface MemberFrame {
  op: 'member';
  conv: string;
  userId: string;
  username: string;
  change: 'joined' | 'left';
}
export interface ConversationFrame {
  op: 'conversation';
  conversation: Conversation;
}
export interface ErrorFrame {
  op: 'error';
  ref: string | null;
  code: ErrorCode | string;
  message: string;
}
export interface PongFrame {
  op: 'pong';
  t?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | MsgFrame
  | AckFrame
  | GapFrame
  | SyncedFrame
  | ReceiptFrame
  | TypingFrame
  | PresenceFrame
  | MemberFrame
  | ConversationFrame
  | ErrorFrame
  | PongFrame;

/** WebSocket close codes with a meaning in protocol v1. */
export const CloseCodes = {
  normal: 1000,
  tooBig: 1009,
  serviceRestart: 1012,
  unauthorized: 4001,
  slowConsumer: 4008,
  flooding: 4029,
} as const;

// The Parley protocol client: standalone (no UI code), used by the web UI and usable from Node.
export { ParleyClient } from './client';
export type { ClientEvents, ConnectionState, MessageSource, ParleyClientOptions, StateChange, WebSocketLike } from './client';
export { ApiError, RestClient } from './rest';
export type { FetchLike, HistoryQuery, RestOptions } from './rest';
export { backoffDelay, defaultBackoff } from './backoff';
export type { BackoffPolicy } from './backoff';
export { SeqCursor } from './cursor';
export { newClientMsgId, isValidId } from './ids';
export { parseServerFrame } from './frames';
export * from './types';

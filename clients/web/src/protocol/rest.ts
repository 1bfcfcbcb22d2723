import { isConversation, isMessage } from './frames';
import type { AuthResponse, Conversation, ErrorCode, Message, MessagePage, RoomSummary, Stats } from './types';

/** A refused or failed REST call: the protocol's error code, or `network` when the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network' | string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RestOptions {
  /** Origin of the Parley node, e.g. `http://127.0.0.1:5080`; empty for the page's own origin. */
  baseUrl?: string;
  fetch?: FetchLike;
  /** The bearer token for authenticated calls, read on each call. */
  token?: () => string | null;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

const codeForStatus: Record<number, ErrorCode> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  429: 'rate_limited',
  503: 'unavailable',
};

/** The REST half of protocol v1 (`/api/v1`). Every method throws {@link ApiError} on a refusal. */
export class RestClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private readonly token: () => string | null;

  constructor(options: RestOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.token = options.token ?? (() => null);
  }

  register(username: string, password: string): Promise<AuthResponse> {
    return this.call<AuthResponse>('POST', '/auth/register', { username, password }, false);
  }

  login(username: string, password: string): Promise<AuthResponse> {
    return this.call<AuthResponse>('POST', '/auth/login', { username, password }, false);
  }

  async conversations(): Promise<Conversation[]> {
    const list = await this.call<unknown>('GET', '/conversations');
    if (!Array.isArray(list) || !list.every(isConversation)) throw new ApiError(200, 'invalid', 'unexpected conversation list');
    return list;
  }

  publicRooms(): Promise<RoomSummary[]> {
    return this.call<RoomSummary[]>('GET', '/rooms');
  }

  createRoom(name: string, isPrivate: boolean): Promise<Conversation> {
    return this.call<Conversation>('POST', '/rooms', { name, private: isPrivate });
  }

  joinRoom(id: string): Promise<Conversation> {
    return this.call<Conversation>('POST', `/rooms/${encodeURIComponent(id)}/join`);
  }

  leaveRoom(id: string): Promise<void> {
    return this.call<void>('POST', `/rooms/${encodeURIComponent(id)}/leave`);
  }

  addMember(id: string, username: string): Promise<Conversation> {
    return this.call<Conversation>('POST', `/rooms/${encodeURIComponent(id)}/members`, { username });
  }

  openDm(username: string): Promise<Conversation> {
    return this.call<Conversation>('POST', '/dms', { username });
  }

  async history(conv: string, query: HistoryQuery = {}): Promise<MessagePage> {
    const params = new URLSearchParams();
    if (query.before !== undefined) params.set('before', String(query.before));
    if (query.after !== undefined) params.set('after', String(query.after));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    const page = await this.call<{ messages?: unknown; hasMore?: unknown }>('GET', `/conversations/${encodeURIComponent(conv)}/messages${qs ? `?${qs}` : ''}`);
    if (!Array.isArray(page.messages) || !page.messages.every(isMessage)) throw new ApiError(200, 'invalid', 'unexpected history page');
    return { messages: page.messages, hasMore: page.hasMore === true };
  }

  sendMessage(conv: string, clientMsgId: string, body: string): Promise<Message> {
    return this.call<Message>('POST', `/conversations/${encodeURIComponent(conv)}/messages`, { clientMsgId, body });
  }

  stats(): Promise<Stats> {
    return this.call<Stats>('GET', '/stats', undefined, false);
  }

  private async call<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      const token = this.token();
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    const init: RequestInit = { method, headers, cache: 'no-store' };
    if (body !== undefined) init.body = JSON.stringify(body);

    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/api/v1${path}`, init);
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server.');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let json: unknown = undefined;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!response.ok) {
      const detail = typeof json === 'object' && json !== null ? (json as { error?: { code?: unknown; message?: unknown } }).error : undefined;
      const code = typeof detail?.code === 'string' ? detail.code : (codeForStatus[response.status] ?? 'unavailable');
      const message = typeof detail?.message === 'string' ? detail.message : `HTTP ${response.status}`;
      throw new ApiError(response.status, code, message);
    }
    return json as T;
  }
}

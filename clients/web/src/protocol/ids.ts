const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A fresh clientMsgId: 22 characters of [A-Za-z0-9_-] (132 random bits). Uses getRandomValues, which, unlike
 * crypto.randomUUID, also exists on pages served over plain http from a non-localhost address.
 */
export function newClientMsgId(): string {
  const bytes = new Uint8Array(22);
  crypto.getRandomValues(bytes);
  let id = '';
  for (const b of bytes) id += alphabet[b & 63];
  return id;
}

/** The protocol's id rule: 1–64 characters of [A-Za-z0-9_-]. */
export function isValidId(value: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(value);
}

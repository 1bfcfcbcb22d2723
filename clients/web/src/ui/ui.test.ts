import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../protocol';
import { message } from '../protocol/testing/fakes';
import { authErrorText, validateCredentials } from './AuthScreen';
import { actionErrorText } from './dialogs';
import { dayLabel } from './format';
import { buildRows } from './MessageList';

const day = 86_400_000;
const noon = new Date(2026, 0, 15, 12, 0).getTime();

describe('buildRows', () => {
  it('puts a separator at each new day and names the sender at the start of a run', () => {
    const rows = buildRows(
      [
        message('r', 1, { ts: noon - day, from: 'a' }),
        message('r', 2, { ts: noon, from: 'a' }),
        message('r', 3, { ts: noon + 60_000, from: 'a' }),
        message('r', 4, { ts: noon + 120_000, from: 'b' }),
        message('r', 5, { ts: noon + 20 * 60_000, from: 'b' }),
      ],
      [{ clientMsgId: 'x', body: 'pending', createdAt: noon + 21 * 60_000, status: 'pending' }],
      noon,
    );
    expect(rows.map((r) => (r.kind === 'day' ? `day:${r.label}` : r.kind === 'msg' ? `${r.message.seq}${r.showSender ? '+' : ''}` : 'out'))).toEqual([
      'day:Yesterday',
      '1+',
      'day:Today',
      '2+',
      '3',
      '4+',
      '5+',
      'out',
    ]);
  });

  it('drops an optimistic bubble once its stored message is there', () => {
    const rows = buildRows([message('r', 1, { clientMsgId: 'x', ts: noon })], [{ clientMsgId: 'x', body: 'hi', createdAt: noon, status: 'sent', seq: 1 }], noon);
    expect(rows.filter((r) => r.kind === 'out')).toEqual([]);
  });

  it('labels days', () => {
    expect(dayLabel(noon, noon)).toBe('Today');
    expect(dayLabel(noon - day, noon)).toBe('Yesterday');
    expect(dayLabel(noon - 3 * day, noon)).toMatch(/2026/);
  });
});

describe('error texts', () => {
  it('says what went wrong in words', () => {
    expect(authErrorText(new ApiError(401, 'unauthorized', 'x'), 'login')).toBe('Wrong username or password.');
    expect(authErrorText(new ApiError(409, 'conflict', 'x'), 'register')).toMatch(/taken/);
    expect(authErrorText(new ApiError(429, 'rate_limited', 'x'), 'login')).toMatch(/Too many attempts/);
    expect(authErrorText(new ApiError(0, 'network', 'x'), 'login')).toMatch(/Cannot reach/);
    expect(actionErrorText(new ApiError(403, 'forbidden', "only the room's owner adds members"))).toBe("Only the room's owner can add members.");
    expect(actionErrorText(new ApiError(404, 'not_found', 'no such user'))).toBe('There is no user with that name.');
  });

  it('checks credentials before asking the server', () => {
    expect(validateCredentials('ab', 'password1', 'login')).toMatch(/3–32/);
    expect(validateCredentials('has space', 'password1', 'login')).toMatch(/3–32/);
    expect(validateCredentials('alice', 'short', 'register')).toMatch(/at least 8/);
    expect(validateCredentials('alice', 'short', 'login')).toBeNull();
    expect(validateCredentials('Al.ice-_9', 'long-enough', 'register')).toBeNull();
  });
});

describe('source hygiene', () => {
  it('never builds HTML from strings: no innerHTML, dangerouslySetInnerHTML, eval or inline style attributes', () => {
    const root = path.resolve(import.meta.dirname, '..');
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.test.ts')) files.push(full);
      }
    };
    walk(root);
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((f) => /innerHTML|outerHTML|dangerouslySetInnerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|\bstyle=\{/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});

import type { Page } from 'playwright-core';

type LogWindow = { __statusLog?: Record<string, string[]> };

/**
 * Records, in the page, every status each own bubble shows (keyed by body text), across the optimistic bubble being
 * replaced by the stored one.
 */
export async function recordStatuses(page: Page): Promise<void> {
  await page.evaluate(() => {
    const log: Record<string, string[]> = {};
    (window as unknown as LogWindow).__statusLog = log;
    const record = (el: Element): void => {
      if (!el.matches('.message.mine')) return;
      const body = el.querySelector('.body')?.textContent ?? '';
      const status = el.getAttribute('data-status') ?? '';
      const list = (log[body] ??= []);
      if (list.at(-1) !== status) list.push(status);
    };
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        if (m.type === 'attributes' && m.target instanceof Element) record(m.target);
        for (const node of m.addedNodes) {
          if (!(node instanceof Element)) continue;
          record(node);
          node.querySelectorAll('.message.mine').forEach(record);
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
}

export async function statusHistory(page: Page, body: string): Promise<string[]> {
  return page.evaluate((b) => (window as unknown as LogWindow).__statusLog?.[b] ?? [], body);
}

const rank: Record<string, number> = { pending: 0, sent: 1, delivered: 2, read: 3 };

/** True when the statuses only ever move forward along pending → sent → delivered → read. */
export function movesForward(statuses: string[]): boolean {
  return statuses.every((s, i) => s in rank && (i === 0 || rank[s]! > rank[statuses[i - 1]!]!));
}

// Dates and times for the message view and the conversation list, in the browser's locale and time zone.

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const longDate = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

/** Local midnight of the day of `ts`, as a key for grouping by day. */
export function dayKey(ts: number): number {
  const d = new Date(ts);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

export function formatTime(ts: number): string {
  return time.format(ts);
}

/** "Today", "Yesterday", or the full date: the label of a day separator. */
export function dayLabel(ts: number, now: number = Date.now()): string {
  const days = Math.round((dayKey(now) - dayKey(ts)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return longDate.format(ts);
}

/** The time shown in the conversation list: time today, weekday this week, else the date. */
export function listTime(ts: number, now: number = Date.now()): string {
  const days = Math.round((dayKey(now) - dayKey(ts)) / 86_400_000);
  if (days === 0) return time.format(ts);
  if (days < 7) return weekday.format(ts);
  return shortDate.format(ts);
}

/**
 * What a client holds of one conversation's seq line: everything up to `cursor` (contiguous), plus some seqs beyond
 * it that arrived early. Drives dedupe by (conv, seq) and tells which range is missing.
 */
export class SeqCursor {
  private readonly ahead = new Set<number>();

  /** @param cursor the highest seq below which nothing is missing (0 for an empty conversation). */
  constructor(public cursor: number) {}

  /** Records `seq`; false when it is already held (a duplicate to drop). */
  accept(seq: number): boolean {
    if (seq <= this.cursor || this.ahead.has(seq)) return false;
    if (seq === this.cursor + 1) {
      this.cursor = seq;
      while (this.ahead.delete(this.cursor + 1)) this.cursor++;
    } else {
      this.ahead.add(seq);
    }
    return true;
  }

  /** The first missing range `[from, to]` before an early seq, or null when nothing is missing. */
  missing(): { from: number; to: number } | null {
    if (this.ahead.size === 0) return null;
    let lowest = Number.POSITIVE_INFINITY;
    for (const s of this.ahead) lowest = Math.min(lowest, s);
    return { from: this.cursor + 1, to: lowest - 1 };
  }

  /** The highest seq held, contiguous or not. */
  get highest(): number {
    let high = this.cursor;
    for (const s of this.ahead) high = Math.max(high, s);
    return high;
  }
}

/** Reconnect delays: exponential growth from `baseMs`, capped at `maxMs`, with jitter so clients do not stampede. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay that is random: 0.5 means a delay in [ceiling/2, ceiling]. */
  jitter: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 500, maxMs: 15_000, jitter: 0.5 };

/** The delay before reconnect attempt `attempt` (0 for the first retry); `random` returns a number in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = defaultBackoff, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (1 - policy.jitter * random()));
}

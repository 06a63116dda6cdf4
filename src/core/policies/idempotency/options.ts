/** Resolved idempotency settings for one pipeline. */
export interface IdempotencyOptions {
  /** Derives the key from the call's arguments; `undefined` skips the gate for that call. */
  readonly key: (args: readonly unknown[]) => string | undefined;
  /** How long a completed result is remembered (duplicates within it get the stored result). */
  readonly ttlMs: number;
  /** How long a claim may run before another caller may take it over (a crashed owner's claim goes stale). */
  readonly executionTtlMs: number;
  /** Results larger than this (serialized) are not stored; duplicates then get a conflict error. */
  readonly maxResultBytes: number;
}

export const IDEMPOTENCY_DEFAULTS = Object.freeze({
  ttlMs: 24 * 60 * 60 * 1000,
  executionTtlMs: 60_000,
  maxResultBytes: 65_536,
});

/** Allowance for clocks of different hosts disagreeing when judging a claim stale. */
export const CLOCK_SKEW_TOLERANCE_MS = 5_000;

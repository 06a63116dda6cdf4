/** Resolved dead-letter settings for one pipeline. */
export interface DeadLetterOptions {
  /** `failures`: calls that failed after every retry; `all`: also calls Baldur rejected (open circuit, limits). */
  readonly capture: 'failures' | 'all';
}

/** Engine-wide dead-letter limits. */
export interface DeadLetterLimits {
  /** Entries kept; the oldest are dropped beyond this. */
  readonly maxEntries: number;
  /** Serialized arguments above this size are stored truncated (and cannot be replayed). */
  readonly maxPayloadBytes: number;
  /** Entries expire after this long. */
  readonly ttlMs: number;
  /** Object keys whose values are replaced with "[REDACTED]" (case-insensitive substring match). */
  readonly redactKeys: readonly string[];
}

export const DEAD_LETTER_LIMIT_DEFAULTS: DeadLetterLimits = Object.freeze({
  maxEntries: 10_000,
  maxPayloadBytes: 8_192,
  ttlMs: 7 * 24 * 60 * 60 * 1000,
  redactKeys: Object.freeze([
    'password',
    'passwd',
    'secret',
    'token',
    'authorization',
    'cookie',
    'apikey',
    'api_key',
    'credential',
    'privatekey',
    'private_key',
  ]),
});

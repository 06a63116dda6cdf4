/**
 * Policy kinds in canonical pipeline order, outermost first (SPEC §4). The pipeline
 * implementation follows this order and a test holds it to it; telemetry uses these
 * strings as the `baldur.policy` attribute value.
 */
export const CANONICAL_ORDER = [
  'kill_switch',
  'fallback',
  'dead_letter',
  'rate_limit',
  'cooldown',
  'bulkhead',
  'idempotency',
  'total_timeout',
  'retry',
  'circuit_breaker',
  'attempt_timeout',
] as const;

export type PolicyKind = (typeof CANONICAL_ORDER)[number];

/** Why a call was rejected without reaching the dependency. */
export const REJECTION_REASONS = {
  circuit_open: 'circuit_breaker',
  rate_limited: 'rate_limit',
  cooldown: 'cooldown',
  bulkhead_full: 'bulkhead',
  idempotency_conflict: 'idempotency',
  timeout: 'total_timeout',
} as const satisfies Record<string, PolicyKind>;

export type RejectionReason = keyof typeof REJECTION_REASONS;

/** Breaker states as exposed in status, events and the `baldur.circuit_breaker.state` attribute. */
export const BREAKER_STATES = [
  'closed',
  'open',
  'half_open',
  'forced_open',
  'forced_closed',
  'disabled',
] as const;

export type BreakerState = (typeof BREAKER_STATES)[number];

/** Final outcome of a logical call (the `baldur.outcome` attribute). */
export const CALL_OUTCOMES = ['success', 'failure', 'rejected', 'timeout', 'fallback'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

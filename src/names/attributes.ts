/**
 * Attribute keys used on Baldur's metrics, spans and span events. Values are
 * low-cardinality by construction: dependency keys are capped, outcomes and
 * reasons come from closed sets.
 */
export const ATTR = {
  DEPENDENCY: 'baldur.dependency',
  OUTCOME: 'baldur.outcome',
  POLICY: 'baldur.policy',
  BREAKER_STATE: 'baldur.circuit_breaker.state',
  FROM: 'baldur.from',
  TO: 'baldur.to',
  RETRY_RESULT: 'baldur.retry.result',
  RATE_LIMIT_RESULT: 'baldur.rate_limit.result',
  DEAD_LETTER_STATUS: 'baldur.dead_letter.status',
  REASON: 'baldur.reason',
  STORE: 'baldur.store',
  STORE_OPERATION: 'baldur.store.operation',
  ATTEMPT: 'baldur.attempt',
  /** Attempts a logical call made (on the `baldur` span). */
  ATTEMPTS: 'baldur.attempts',
  MODE: 'baldur.mode',
  RETRY_AFTER_MS: 'baldur.retry_after_ms',
  DELAY_MS: 'baldur.delay_ms',
  TIMEOUT_MS: 'baldur.timeout_ms',
  /** Calls waiting for the bulkhead when this one joined the queue. */
  QUEUED: 'baldur.queued',
  DEAD_LETTER_ID: 'baldur.dead_letter.id',
  IDEMPOTENCY_DECISION: 'baldur.idempotency.decision',
  ROUTE: 'baldur.route',
} as const;

export type AttributeKey = (typeof ATTR)[keyof typeof ATTR];

/** Span and span-event names. The happy path creates none of them. */
export const SPAN_NAMES = {
  CALL: 'baldur',
  RETRY: 'baldur.retry',
  REJECTED: 'baldur.rejected',
  STATE_CHANGE: 'baldur.circuit_breaker.state_change',
  TIMEOUT: 'baldur.timeout',
  FALLBACK: 'baldur.fallback',
  COOLDOWN: 'baldur.cooldown',
  BULKHEAD_QUEUED: 'baldur.bulkhead.queued',
  DEAD_LETTER: 'baldur.dead_letter',
  DEAD_LETTER_REPLAY: 'baldur.dead_letter.replay',
  IDEMPOTENCY: 'baldur.idempotency',
} as const;

/** OpenTelemetry scope (tracer and meter) name of everything Baldur reports. */
export const INSTRUMENTATION_SCOPE = 'baldur';

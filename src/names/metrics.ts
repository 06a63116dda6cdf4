/**
 * The metric catalog (SPEC §7). Dashboards, alert rules, the README and the
 * telemetry module all read names from here; a test fails when a dashboard
 * names a metric this file does not define.
 */
export type InstrumentKind = 'counter' | 'histogram' | 'updowncounter';

export interface MetricDefinition {
  readonly name: string;
  readonly kind: InstrumentKind;
  readonly unit: string;
  readonly description: string;
  readonly attributes: readonly string[];
}

function metric(def: MetricDefinition): MetricDefinition {
  return Object.freeze(def);
}

export const METRICS = {
  CALLS: metric({
    name: 'baldur.calls',
    kind: 'counter',
    unit: '{call}',
    description: 'Logical calls through a Baldur pipeline, by final outcome.',
    attributes: ['baldur.dependency', 'baldur.outcome', 'baldur.policy'],
  }),
  CALL_DURATION: metric({
    name: 'baldur.call.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of logical calls, including retries and waits.',
    attributes: ['baldur.dependency', 'baldur.outcome'],
  }),
  BREAKER_STATE: metric({
    name: 'baldur.circuit_breaker.state',
    kind: 'updowncounter',
    unit: '1',
    description: 'Circuit breaker status: 1 on the current state, 0 on the others.',
    attributes: ['baldur.dependency', 'baldur.circuit_breaker.state'],
  }),
  BREAKER_TRANSITIONS: metric({
    name: 'baldur.circuit_breaker.transitions',
    kind: 'counter',
    unit: '{transition}',
    description: 'Circuit breaker state transitions.',
    attributes: ['baldur.dependency', 'baldur.from', 'baldur.to'],
  }),
  RETRY_ATTEMPTS: metric({
    name: 'baldur.retry.attempts',
    kind: 'counter',
    unit: '{attempt}',
    description: 'Retry decisions: scheduled retries and why retrying stopped.',
    attributes: ['baldur.dependency', 'baldur.retry.result'],
  }),
  RATE_LIMIT_DECISIONS: metric({
    name: 'baldur.rate_limit.decisions',
    kind: 'counter',
    unit: '{decision}',
    description: 'Rate limit decisions for outbound dependencies and inbound routes.',
    attributes: ['baldur.dependency', 'baldur.rate_limit.result'],
  }),
  BULKHEAD_ACTIVE: metric({
    name: 'baldur.bulkhead.active',
    kind: 'updowncounter',
    unit: '{call}',
    description: 'Calls holding a bulkhead slot.',
    attributes: ['baldur.dependency'],
  }),
  BULKHEAD_QUEUED: metric({
    name: 'baldur.bulkhead.queued',
    kind: 'updowncounter',
    unit: '{call}',
    description: 'Calls waiting for a bulkhead slot.',
    attributes: ['baldur.dependency'],
  }),
  DEAD_LETTER_ENTRIES: metric({
    name: 'baldur.dead_letter.entries',
    kind: 'updowncounter',
    unit: '{entry}',
    description: 'Dead-letter entries, by status.',
    attributes: ['baldur.dependency', 'baldur.dead_letter.status'],
  }),
  INBOUND_REJECTIONS: metric({
    name: 'baldur.inbound.rejections',
    kind: 'counter',
    unit: '{request}',
    description: 'Inbound requests rejected by Baldur, by reason.',
    attributes: ['baldur.reason'],
  }),
  STORE_OPERATION_DURATION: metric({
    name: 'baldur.store.operation.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of state-store operations.',
    attributes: ['baldur.store', 'baldur.store.operation', 'baldur.outcome'],
  }),
} as const;

export const METRIC_LIST: readonly MetricDefinition[] = Object.freeze(Object.values(METRICS));

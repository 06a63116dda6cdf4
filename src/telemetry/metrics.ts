import {
  ROOT_CONTEXT,
  ValueType,
  type Attributes,
  type BatchObservableResult,
  type Histogram,
  type Meter,
  type Observable,
} from '@opentelemetry/api';
import type { DurationSink } from '../core/pipeline/stats';
import { DURATION_BUCKETS_S } from '../core/pipeline/duration-histogram';
import type { Pipeline } from '../core/pipeline/pipeline';
import type { DeadLetterQueue } from '../core/policies/dead-letter/dead-letter-queue';
import type { DeadLetterStatus } from '../core/policies/dead-letter/entry';
import { ATTR } from '../names/attributes';
import { METRICS, type MetricDefinition } from '../names/metrics';
import type { RetryStopReason } from '../core/events';
import { BREAKER_STATES, type BreakerState, type CallOutcome } from '../names/policies';
import type { TransitionCount } from './transitions';

/** What the metric callbacks read at collection time; nothing is recorded per call. */
export interface MetricSource {
  /** Pipelines of the engine in use now (the application may have restarted it with `start()`). */
  pipelines(): readonly Pipeline[];
  transitions(): Iterable<TransitionCount>;
  deadLetters(): DeadLetterQueue | undefined;
  /** Increases whenever this process captures or replays a dead letter. */
  deadLetterChanges(): number;
  /** Entries read per collection at most (the configured `deadLetters.maxEntries`). */
  readonly maxDeadLetters: number;
  readonly reportError: (what: string, error: unknown) => void;
}

const RETRY_STOP_REASONS: readonly RetryStopReason[] = [
  'exhausted',
  'not_retryable',
  'budget',
  'deadline',
  'retry_after_too_long',
];

/** The breaker transitions every breaker can make on its own (forced ones are reported when they happen). */
const AUTOMATIC_TRANSITIONS: readonly (readonly [BreakerState, BreakerState])[] = [
  ['closed', 'open'],
  ['open', 'half_open'],
  ['half_open', 'closed'],
  ['half_open', 'open'],
];

const expectedOutcomeCache = new WeakMap<Pipeline, readonly string[]>();

/** The `outcome/policy` keys a pipeline's configuration can produce (beyond plain success). */
function expectedOutcomes(pipeline: Pipeline): readonly string[] {
  let keys = expectedOutcomeCache.get(pipeline);
  if (keys === undefined) {
    const o = pipeline.options;
    keys = [
      'failure/none',
      ...(o.retry !== undefined ? ['failure/retry'] : []),
      ...(o.circuitBreaker !== undefined ? ['rejected/circuit_breaker'] : []),
      ...(o.rateLimit !== undefined ? ['rejected/rate_limit'] : []),
      ...(o.cooldown ? ['rejected/cooldown'] : []),
      ...(o.bulkhead !== undefined ? ['rejected/bulkhead'] : []),
      ...(o.idempotency !== undefined ? ['rejected/idempotency'] : []),
      ...(o.attemptTimeoutMs > 0 ? ['timeout/attempt_timeout'] : []),
      ...(o.totalTimeoutMs > 0 ? ['timeout/total_timeout'] : []),
      ...(o.fallback !== undefined ? ['fallback/fallback'] : []),
    ];
    expectedOutcomeCache.set(pipeline, keys);
  }
  return keys;
}

/** Re-read the dead-letter store at least this often even without local changes (TTL expiry, peers). */
const DEAD_LETTER_REFRESH_MS = 60_000;

function options(definition: MetricDefinition): {
  description: string;
  unit: string;
  valueType: ValueType;
} {
  return { description: definition.description, unit: definition.unit, valueType: ValueType.INT };
}

/**
 * Register Baldur's instruments on `meter`. Counters and gauges are observable:
 * the engine already keeps running totals per pipeline, so a call costs no SDK
 * work at all and a collection reads the totals. Returns a function that
 * removes the callbacks.
 */
export function registerMetrics(meter: Meter, source: MetricSource): () => void {
  const calls = meter.createObservableCounter(METRICS.CALLS.name, options(METRICS.CALLS));
  const breakerState = meter.createObservableUpDownCounter(
    METRICS.BREAKER_STATE.name,
    options(METRICS.BREAKER_STATE),
  );
  const transitions = meter.createObservableCounter(
    METRICS.BREAKER_TRANSITIONS.name,
    options(METRICS.BREAKER_TRANSITIONS),
  );
  const retries = meter.createObservableCounter(
    METRICS.RETRY_ATTEMPTS.name,
    options(METRICS.RETRY_ATTEMPTS),
  );
  const rateLimit = meter.createObservableCounter(
    METRICS.RATE_LIMIT_DECISIONS.name,
    options(METRICS.RATE_LIMIT_DECISIONS),
  );
  const bulkheadActive = meter.createObservableUpDownCounter(
    METRICS.BULKHEAD_ACTIVE.name,
    options(METRICS.BULKHEAD_ACTIVE),
  );
  const bulkheadQueued = meter.createObservableUpDownCounter(
    METRICS.BULKHEAD_QUEUED.name,
    options(METRICS.BULKHEAD_QUEUED),
  );
  const deadLetters = meter.createObservableUpDownCounter(
    METRICS.DEAD_LETTER_ENTRIES.name,
    options(METRICS.DEAD_LETTER_ENTRIES),
  );

  const pipelineInstruments: Observable[] = [
    calls,
    breakerState,
    transitions,
    retries,
    rateLimit,
    bulkheadActive,
    bulkheadQueued,
  ];
  const observePipelines = (result: BatchObservableResult): void => {
    try {
      for (const pipeline of source.pipelines()) {
        const dependency = pipeline.name;
        const { stats } = pipeline;
        let plainSuccesses = stats.successes;
        for (const [policy, count] of stats.successPolicies) {
          plainSuccesses -= count;
          result.observe(calls, count, {
            [ATTR.DEPENDENCY]: dependency,
            [ATTR.OUTCOME]: 'success',
            [ATTR.POLICY]: policy,
          });
        }
        result.observe(calls, plainSuccesses, {
          [ATTR.DEPENDENCY]: dependency,
          [ATTR.OUTCOME]: 'success',
          [ATTR.POLICY]: 'none',
        });
        // Series a dependency can produce start at 0, so the first event is an increase
        // (Prometheus' increase() and rate() cannot see a series' first sample as one).
        for (const key of expectedOutcomes(pipeline)) {
          if (stats.outcomes.has(key)) continue;
          const slash = key.indexOf('/');
          result.observe(calls, 0, {
            [ATTR.DEPENDENCY]: dependency,
            [ATTR.OUTCOME]: key.slice(0, slash),
            [ATTR.POLICY]: key.slice(slash + 1),
          });
        }
        for (const [key, count] of stats.outcomes) {
          const slash = key.indexOf('/');
          result.observe(calls, count, {
            [ATTR.DEPENDENCY]: dependency,
            [ATTR.OUTCOME]: key.slice(0, slash),
            [ATTR.POLICY]: key.slice(slash + 1),
          });
        }
        if (pipeline.breaker !== undefined) {
          let state = pipeline.breaker.state;
          // A forced state may have expired: status() applies that first, as the admin API does.
          if (state === 'forced_open' || state === 'forced_closed')
            state = pipeline.status().circuitBreaker?.state ?? state;
          for (const candidate of BREAKER_STATES) {
            result.observe(breakerState, candidate === state ? 1 : 0, {
              [ATTR.DEPENDENCY]: dependency,
              [ATTR.BREAKER_STATE]: candidate,
            });
          }
        }
        if (pipeline.options.retry !== undefined) {
          result.observe(retries, stats.retriesScheduled, {
            [ATTR.DEPENDENCY]: dependency,
            [ATTR.RETRY_RESULT]: 'scheduled',
          });
          for (const reason of RETRY_STOP_REASONS) {
            result.observe(retries, stats.retryStops.get(reason) ?? 0, {
              [ATTR.DEPENDENCY]: dependency,
              [ATTR.RETRY_RESULT]: reason,
            });
          }
        }
        if (pipeline.limiter !== undefined) {
          for (const [decision, count] of [
            ['allowed', stats.rateLimitAllowed],
            ['delayed', stats.rateLimitDelayed],
            ['rejected', stats.rateLimitRejected],
          ] as const) {
            result.observe(rateLimit, count, {
              [ATTR.DEPENDENCY]: dependency,
              [ATTR.RATE_LIMIT_RESULT]: decision,
            });
          }
        }
        const bulkhead = pipeline.bulkhead;
        if (bulkhead !== undefined) {
          const attributes = { [ATTR.DEPENDENCY]: dependency };
          result.observe(bulkheadActive, bulkhead.active, attributes);
          result.observe(bulkheadQueued, bulkhead.queued, attributes);
        }
      }
      const seen = new Set<string>();
      for (const transition of source.transitions()) {
        seen.add(`${transition.dependency}|${transition.from}|${transition.to}`);
        result.observe(transitions, transition.count, {
          [ATTR.DEPENDENCY]: transition.dependency,
          [ATTR.FROM]: transition.from,
          [ATTR.TO]: transition.to,
        });
      }
      for (const pipeline of source.pipelines()) {
        if (pipeline.breaker === undefined) continue;
        for (const [from, to] of AUTOMATIC_TRANSITIONS) {
          if (seen.has(`${pipeline.name}|${from}|${to}`)) continue;
          result.observe(transitions, 0, {
            [ATTR.DEPENDENCY]: pipeline.name,
            [ATTR.FROM]: from,
            [ATTR.TO]: to,
          });
        }
      }
    } catch (error) {
      source.reportError('metric collection', error);
    }
  };
  meter.addBatchObservableCallback(observePipelines, pipelineInstruments);

  const deadLetterCounts = new DeadLetterCounts(source);
  const observeDeadLetters = async (result: BatchObservableResult): Promise<void> => {
    try {
      for (const [dependency, byStatus] of await deadLetterCounts.read()) {
        for (const [status, count] of byStatus) {
          result.observe(deadLetters, count, {
            [ATTR.DEPENDENCY]: dependency,
            [ATTR.DEAD_LETTER_STATUS]: status,
          });
        }
      }
    } catch (error) {
      source.reportError('dead-letter count', error);
    }
  };
  meter.addBatchObservableCallback(observeDeadLetters, [deadLetters]);

  return () => {
    meter.removeBatchObservableCallback(observePipelines, pipelineInstruments);
    meter.removeBatchObservableCallback(observeDeadLetters, [deadLetters]);
  };
}

type DeadLetterTotals = Map<string, Map<DeadLetterStatus, number>>;

/**
 * Dead letters live in the store (possibly shared by a fleet), so they are
 * counted by reading it — at most once a minute, or sooner after this process
 * captured or replayed one — never on the call path.
 */
class DeadLetterCounts {
  private cached: DeadLetterTotals = new Map();
  private readAtMs = -Infinity;
  private queue: DeadLetterQueue | undefined;
  private seenCaptures = -1;

  constructor(private readonly source: MetricSource) {}

  async read(): Promise<DeadLetterTotals> {
    const queue = this.source.deadLetters();
    if (queue === undefined) return this.cached;
    const changes = this.source.deadLetterChanges();
    const nowMs = Date.now();
    if (
      queue === this.queue &&
      changes === this.seenCaptures &&
      nowMs - this.readAtMs < DEAD_LETTER_REFRESH_MS
    ) {
      return this.cached;
    }
    this.queue = queue;
    this.seenCaptures = changes;
    this.readAtMs = nowMs;
    const totals: DeadLetterTotals = new Map();
    if ((await queue.count()) > 0) {
      let beforeId: string | undefined;
      let read = 0;
      do {
        const page = await queue.list({
          limit: 1000,
          ...(beforeId === undefined ? {} : { beforeId }),
        });
        for (const entry of page.entries) {
          let byStatus = totals.get(entry.dependency);
          if (byStatus === undefined) {
            byStatus = new Map();
            totals.set(entry.dependency, byStatus);
          }
          byStatus.set(entry.status, (byStatus.get(entry.status) ?? 0) + 1);
        }
        read += page.entries.length;
        beforeId = page.nextBeforeId;
      } while (beforeId !== undefined && read < this.source.maxDeadLetters);
    }
    // Statuses that emptied out are reported as 0, so their series do not linger at the last value.
    for (const [dependency, byStatus] of this.cached) {
      let current = totals.get(dependency);
      if (current === undefined) {
        current = new Map();
        totals.set(dependency, current);
      }
      for (const status of byStatus.keys()) if (!current.has(status)) current.set(status, 0);
    }
    this.cached = totals;
    return totals;
  }
}

/**
 * `baldur.call.duration` recorded per call through an SDK Baldur does not own
 * (a metric producer cannot be added to someone else's readers). Attribute
 * objects are cached per dependency and outcome.
 */
export function durationHistogramSink(meter: Meter): DurationSink {
  const histogram: Histogram = meter.createHistogram(METRICS.CALL_DURATION.name, {
    description: METRICS.CALL_DURATION.description,
    unit: METRICS.CALL_DURATION.unit,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
  });
  const attributes = new Map<string, Partial<Record<CallOutcome, Attributes>>>();
  return (dependency, outcome, durationMs) => {
    let byOutcome = attributes.get(dependency);
    if (byOutcome === undefined) {
      byOutcome = {};
      attributes.set(dependency, byOutcome);
    }
    const set = (byOutcome[outcome] ??= Object.freeze({
      [ATTR.DEPENDENCY]: dependency,
      [ATTR.OUTCOME]: outcome,
    }));
    // An explicit context spares the SDK an async-context lookup per call (no exemplars are kept).
    histogram.record(durationMs / 1000, set, ROOT_CONTEXT);
  };
}

import type { BreakerState } from '../../names/policies';
import type { CircuitBreakerSnapshot } from '../policies/circuit-breaker/circuit-breaker';
import type { Pipeline } from './pipeline';

/** A point-in-time view of one pipeline, as served by `status()` and the admin API. */
export interface PipelineStatus {
  readonly name: string;
  readonly circuitBreaker: (CircuitBreakerSnapshot & { readonly state: BreakerState }) | undefined;
  readonly bulkhead:
    | {
        readonly active: number;
        readonly queued: number;
        readonly maxConcurrent: number;
        readonly maxQueue: number;
      }
    | undefined;
  readonly rateLimit:
    | {
        readonly limit: number;
        readonly perMs: number;
        readonly allowed: number;
        readonly delayed: number;
        readonly rejected: number;
      }
    | undefined;
  readonly cooldownRemainingMs: number;
  readonly calls: {
    readonly success: number;
    readonly failure: number;
    readonly rejected: number;
    readonly timeout: number;
    readonly fallback: number;
  };
  readonly rejections: Readonly<Record<string, number>>;
  readonly retries: {
    readonly scheduled: number;
    readonly stopped: Readonly<Record<string, number>>;
  };
}

export function describePipeline(pipeline: Pipeline, nowMs: number): PipelineStatus {
  const { stats, options } = pipeline;
  return {
    name: pipeline.name,
    circuitBreaker: pipeline.breaker?.snapshot(),
    bulkhead:
      pipeline.bulkhead === undefined
        ? undefined
        : {
            active: pipeline.bulkhead.active,
            queued: pipeline.bulkhead.queued,
            maxConcurrent: pipeline.bulkhead.options.maxConcurrent,
            maxQueue: pipeline.bulkhead.options.maxQueue,
          },
    rateLimit:
      options.rateLimit === undefined
        ? undefined
        : {
            limit: options.rateLimit.limit,
            perMs: options.rateLimit.perMs,
            allowed: stats.rateLimitAllowed,
            delayed: stats.rateLimitDelayed,
            rejected: stats.rateLimitRejected,
          },
    cooldownRemainingMs: pipeline.cooldown.active ? pipeline.cooldown.remainingMs(nowMs) : 0,
    calls: {
      success: stats.countOf('success'),
      failure: stats.countOf('failure'),
      rejected: stats.countOf('rejected'),
      timeout: stats.countOf('timeout'),
      fallback: stats.countOf('fallback'),
    },
    rejections: Object.fromEntries(stats.rejections),
    retries: { scheduled: stats.retriesScheduled, stopped: Object.fromEntries(stats.retryStops) },
  };
}

import { defaultClassifier, type Classifier, type Outcome } from '../core/outcome';
import type { PipelineOptions } from '../core/pipeline/options';
import { BULKHEAD_DEFAULTS, type BulkheadOptions } from '../core/policies/bulkhead/options';
import {
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreakerOptions,
} from '../core/policies/circuit-breaker/options';
import type { DeadLetterOptions } from '../core/policies/dead-letter/options';
import type { IdempotencyOptions } from '../core/policies/idempotency/options';
import type { RateLimitOptions } from '../core/policies/rate-limit/options';
import {
  RETRY_BUDGET_DEFAULTS,
  RETRY_DEFAULTS,
  type RetryOptions,
} from '../core/policies/retry/options';
import { ConfigError } from './config-error';
import type { ConfigIssue } from './schema-dsl';
import type { PolicyInput } from './schema';

type Layer = PolicyInput | undefined;
type Section<K extends keyof PolicyInput> = Exclude<PolicyInput[K], undefined>;

/** What a pipeline gets beyond the declarative policies (library API and instrumentations). */
export interface PipelineExtras {
  readonly classifier?: Classifier;
  readonly fallback?: ((error: unknown, args: readonly unknown[]) => unknown) | undefined;
  readonly idempotency?: IdempotencyOptions | undefined;
  readonly retryIf?: ((outcome: Outcome) => boolean) | undefined;
  readonly passSignal?: boolean;
  /** The layers' retry settings apply only when this is true (protect() retries only when asked). */
  readonly retryEnabled?: boolean;
}

/**
 * Merge policy layers (config defaults < matching dependency entry <
 * programmatic options) into a pipeline's options. Objects merge field by
 * field over the previous layer; `false` switches a policy off; a later object
 * switches it back on with the built-in defaults for fields it does not name.
 * Cross-field mistakes are reported as a `ConfigError` naming `where`.
 */
export function resolvePipelineOptions(
  name: string,
  layers: readonly Layer[],
  extras: PipelineExtras = {},
  where = 'defaults',
): PipelineOptions {
  const circuitBreaker = mergeSection(layers, 'circuitBreaker', {});
  const retry = mergeSection(layers, 'retry', {});
  const bulkhead = mergeSection(layers, 'bulkhead', undefined);
  const rateLimit = mergeSection(layers, 'rateLimit', undefined);
  const deadLetter = mergeSection(layers, 'deadLetter', undefined);
  const last = <K extends 'timeout' | 'totalTimeout' | 'cooldown'>(
    key: K,
  ): PolicyInput[K] | undefined => {
    let value: PolicyInput[K] | undefined;
    for (const layer of layers) if (layer?.[key] !== undefined) value = layer[key];
    return value;
  };

  const options: PipelineOptions = {
    name,
    circuitBreaker: circuitBreaker === undefined ? undefined : toBreaker(circuitBreaker),
    retry:
      retry === undefined || extras.retryEnabled === false
        ? undefined
        : toRetry(retry, extras.retryIf),
    attemptTimeoutMs: last('timeout') ?? 0,
    totalTimeoutMs: last('totalTimeout') ?? 0,
    bulkhead: bulkhead === undefined ? undefined : toBulkhead(bulkhead),
    rateLimit: rateLimit === undefined ? undefined : toRateLimit(rateLimit),
    cooldown: last('cooldown') ?? true,
    deadLetter: deadLetter === undefined ? undefined : toDeadLetter(deadLetter),
    idempotency: extras.idempotency,
    fallback: extras.fallback,
    classifier: extras.classifier ?? defaultClassifier,
    passSignal: extras.passSignal ?? false,
  };
  checkConsistency(options, where);
  return Object.freeze(options);
}

/** Merge one section across layers: `false` clears, objects merge over what came before. */
function mergeSection<
  K extends 'circuitBreaker' | 'retry' | 'bulkhead' | 'rateLimit' | 'deadLetter',
>(
  layers: readonly Layer[],
  key: K,
  initial: Section<K> | undefined,
): Exclude<Section<K>, false> | undefined {
  let current = initial as Exclude<Section<K>, false> | undefined;
  for (const layer of layers) {
    const value = layer?.[key];
    if (value === undefined) continue;
    if (value === false) current = undefined;
    else current = { ...(current ?? {}), ...value } as Exclude<Section<K>, false>;
  }
  return current;
}

function toBreaker(input: Exclude<Section<'circuitBreaker'>, false>): CircuitBreakerOptions {
  const d = CIRCUIT_BREAKER_DEFAULTS;
  return Object.freeze({
    enabled: input.enabled ?? d.enabled,
    failureThreshold: input.failureThreshold ?? d.failureThreshold,
    failureRateThreshold: input.failureRateThreshold ?? d.failureRateThreshold,
    slidingWindowSize: input.slidingWindowSize ?? d.slidingWindowSize,
    minimumCalls: input.minimumCalls ?? d.minimumCalls,
    slowCallDurationMs: input.slowCallDuration ?? d.slowCallDurationMs,
    slowCallRateThreshold: input.slowCallRateThreshold ?? d.slowCallRateThreshold,
    recoveryTimeoutMs: input.recoveryTimeout ?? d.recoveryTimeoutMs,
    halfOpenMaxCalls: input.halfOpenMaxCalls ?? d.halfOpenMaxCalls,
    successThreshold: input.successThreshold ?? d.successThreshold,
  });
}

function toRetry(
  input: Exclude<Section<'retry'>, false>,
  retryIf: RetryOptions['retryIf'],
): RetryOptions {
  const d = RETRY_DEFAULTS;
  const budget = input.budget;
  return Object.freeze({
    maxAttempts: input.maxAttempts ?? d.maxAttempts,
    backoff: input.backoff ?? d.backoff,
    baseDelayMs: input.baseDelay ?? d.baseDelayMs,
    maxDelayMs: input.maxDelay ?? d.maxDelayMs,
    multiplier: input.multiplier ?? d.multiplier,
    jitter: input.jitter ?? d.jitter,
    maxElapsedMs: input.maxElapsed ?? d.maxElapsedMs,
    budget:
      budget === false
        ? undefined
        : Object.freeze({
            ratio: budget?.ratio ?? RETRY_BUDGET_DEFAULTS.ratio,
            minPerSecond: budget?.minPerSecond ?? RETRY_BUDGET_DEFAULTS.minPerSecond,
            windowMs: budget?.window ?? RETRY_BUDGET_DEFAULTS.windowMs,
          }),
    retryIf,
  });
}

function toBulkhead(input: Exclude<Section<'bulkhead'>, false>): BulkheadOptions {
  return Object.freeze({
    maxConcurrent: input.maxConcurrent ?? BULKHEAD_DEFAULTS.maxConcurrent,
    maxQueue: input.maxQueue ?? BULKHEAD_DEFAULTS.maxQueue,
    queueTimeoutMs: input.queueTimeout ?? BULKHEAD_DEFAULTS.queueTimeoutMs,
  });
}

function toRateLimit(input: Exclude<Section<'rateLimit'>, false>): RateLimitOptions {
  return Object.freeze({
    limit: input.limit,
    perMs: input.per ?? 1000,
    burst: input.burst ?? input.limit,
    maxWaitMs: input.maxWait ?? 0,
  });
}

function toDeadLetter(input: Exclude<Section<'deadLetter'>, false>): DeadLetterOptions {
  return Object.freeze({ capture: input.capture ?? 'failures' });
}

function checkConsistency(options: PipelineOptions, where: string): void {
  const issues: ConfigIssue[] = [];
  const cb = options.circuitBreaker;
  if (cb !== undefined && cb.minimumCalls > cb.slidingWindowSize) {
    issues.push({
      path: `${where}.circuitBreaker.minimumCalls`,
      value: cb.minimumCalls,
      problem: `${cb.minimumCalls} exceeds slidingWindowSize (${cb.slidingWindowSize}), so the rate triggers could never fire`,
      source: undefined,
    });
  }
  if (
    options.totalTimeoutMs > 0 &&
    options.attemptTimeoutMs > 0 &&
    options.attemptTimeoutMs > options.totalTimeoutMs
  ) {
    issues.push({
      path: `${where}.timeout`,
      value: options.attemptTimeoutMs,
      problem: `per-attempt timeout (${options.attemptTimeoutMs} ms) exceeds totalTimeout (${options.totalTimeoutMs} ms)`,
      source: undefined,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

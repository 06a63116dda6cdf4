import { describe, expect, it } from 'vitest';
import { resolvePipelineOptions } from '../../../src/config/policies';
import type { PolicyInput } from '../../../src/config/schema';
import { defaultClassifier } from '../../../src/core/outcome';
import { CIRCUIT_BREAKER_DEFAULTS } from '../../../src/core/policies/circuit-breaker/options';
import { BULKHEAD_DEFAULTS } from '../../../src/core/policies/bulkhead/options';
import { RETRY_BUDGET_DEFAULTS, RETRY_DEFAULTS } from '../../../src/core/policies/retry/options';
import { configError, configErrorMessage } from './helpers';

const resolve = (...layers: (PolicyInput | undefined)[]) =>
  resolvePipelineOptions('dep', layers, { retryEnabled: true });

describe('resolvePipelineOptions', () => {
  it('gives a breaker with the built-in defaults and nothing else when nothing is configured', () => {
    const options = resolvePipelineOptions('dep', []);
    expect(options).toMatchObject({
      name: 'dep',
      circuitBreaker: CIRCUIT_BREAKER_DEFAULTS,
      attemptTimeoutMs: 0,
      totalTimeoutMs: 0,
      bulkhead: undefined,
      rateLimit: undefined,
      cooldown: true,
      deadLetter: undefined,
      idempotency: undefined,
      fallback: undefined,
      classifier: defaultClassifier,
      passSignal: false,
    });
    expect(options.retry).toMatchObject({
      maxAttempts: RETRY_DEFAULTS.maxAttempts,
      budget: RETRY_BUDGET_DEFAULTS,
    });
  });

  it('leaves retry off unless retries are enabled', () => {
    const layers: PolicyInput[] = [{ retry: { maxAttempts: 4 } }];
    expect(resolvePipelineOptions('dep', layers, { retryEnabled: false }).retry).toBeUndefined();
    expect(resolvePipelineOptions('dep', layers, { retryEnabled: true }).retry?.maxAttempts).toBe(
      4,
    );
  });

  it('merges objects field by field, later layers winning', () => {
    const options = resolve(
      { circuitBreaker: { failureThreshold: 3, recoveryTimeout: 1_000 }, timeout: 500 },
      undefined,
      { circuitBreaker: { failureThreshold: 9 }, totalTimeout: 2_000 },
      { timeout: 700 },
    );
    expect(options.circuitBreaker).toEqual({
      ...CIRCUIT_BREAKER_DEFAULTS,
      failureThreshold: 9,
      recoveryTimeoutMs: 1_000,
    });
    expect(options.attemptTimeoutMs).toBe(700);
    expect(options.totalTimeoutMs).toBe(2_000);
  });

  it('switches a policy off with false', () => {
    const options = resolve(
      { circuitBreaker: { failureThreshold: 3 }, retry: { maxAttempts: 2 }, bulkhead: {} },
      { circuitBreaker: false, retry: false, bulkhead: false, cooldown: false },
    );
    expect(options.circuitBreaker).toBeUndefined();
    expect(options.retry).toBeUndefined();
    expect(options.bulkhead).toBeUndefined();
    expect(options.cooldown).toBe(false);
  });

  it('switches a policy back on with the built-in defaults after false', () => {
    const options = resolve(
      { circuitBreaker: { failureThreshold: 3, halfOpenMaxCalls: 1 } },
      { circuitBreaker: false },
      { circuitBreaker: { recoveryTimeout: 5_000 } },
    );
    expect(options.circuitBreaker).toEqual({
      ...CIRCUIT_BREAKER_DEFAULTS,
      recoveryTimeoutMs: 5_000,
    });
  });

  it('turns optional policies on with their defaults from an empty object', () => {
    const options = resolve({ bulkhead: {}, deadLetter: {}, rateLimit: { limit: 50 } });
    expect(options.bulkhead).toEqual({
      maxConcurrent: BULKHEAD_DEFAULTS.maxConcurrent,
      maxQueue: BULKHEAD_DEFAULTS.maxQueue,
      queueTimeoutMs: BULKHEAD_DEFAULTS.queueTimeoutMs,
    });
    expect(options.deadLetter).toEqual({ capture: 'failures' });
    expect(options.rateLimit).toEqual({ limit: 50, perMs: 1_000, burst: 50, maxWaitMs: 0 });
  });

  it('maps every duration and option onto the resolved shape', () => {
    const options = resolve({
      retry: {
        maxAttempts: 5,
        backoff: 'linear',
        baseDelay: 10,
        maxDelay: 20,
        multiplier: 3,
        jitter: 0,
        maxElapsed: 30,
        budget: { ratio: 0.5, minPerSecond: 2, window: 4_000 },
      },
      rateLimit: { limit: 10, per: 60_000, burst: 3, maxWait: 250 },
      bulkhead: { maxConcurrent: 2, maxQueue: 0, queueTimeout: 0 },
      deadLetter: { capture: 'all' },
    });
    expect(options.retry).toEqual({
      maxAttempts: 5,
      backoff: 'linear',
      baseDelayMs: 10,
      maxDelayMs: 20,
      multiplier: 3,
      jitter: 0,
      maxElapsedMs: 30,
      budget: { ratio: 0.5, minPerSecond: 2, windowMs: 4_000 },
      retryIf: undefined,
    });
    expect(options.rateLimit).toEqual({ limit: 10, perMs: 60_000, burst: 3, maxWaitMs: 250 });
    expect(options.bulkhead).toEqual({ maxConcurrent: 2, maxQueue: 0, queueTimeoutMs: 0 });
    expect(options.deadLetter).toEqual({ capture: 'all' });
  });

  it('drops the retry budget with budget: false', () => {
    expect(resolve({ retry: { budget: false } }).retry?.budget).toBeUndefined();
  });

  it('passes the library extras through', () => {
    const fallback = (): string => 'fallback';
    const retryIf = (): boolean => true;
    const idempotency = {
      key: () => 'k',
      ttlMs: 1_000,
      executionTtlMs: 500,
      maxResultBytes: 10,
    };
    const options = resolvePipelineOptions('dep', [{ retry: {} }], {
      fallback,
      retryIf,
      idempotency,
      passSignal: true,
    });
    expect(options.fallback).toBe(fallback);
    expect(options.retry?.retryIf).toBe(retryIf);
    expect(options.idempotency).toBe(idempotency);
    expect(options.passSignal).toBe(true);
  });

  it('returns frozen options', () => {
    const options = resolve({
      circuitBreaker: {},
      retry: {},
      bulkhead: {},
      rateLimit: { limit: 1 },
    });
    for (const value of [
      options,
      options.circuitBreaker,
      options.retry,
      options.retry?.budget,
      options.bulkhead,
      options.rateLimit,
    ]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
  });

  describe('cross-field checks', () => {
    it('refuses minimumCalls above slidingWindowSize after merging', () => {
      const error = configError(() =>
        resolvePipelineOptions(
          'dep',
          [{ circuitBreaker: { slidingWindowSize: 10 } }, { circuitBreaker: { minimumCalls: 11 } }],
          {},
          'dependencies[2]',
        ),
      );
      expect(error.message).toBe(
        'Invalid Baldur configuration: dependencies[2].circuitBreaker.minimumCalls: 11 exceeds slidingWindowSize (10), so the rate triggers could never fire',
      );
      expect(error.issues).toEqual([
        {
          path: 'dependencies[2].circuitBreaker.minimumCalls',
          value: 11,
          problem: '11 exceeds slidingWindowSize (10), so the rate triggers could never fire',
          source: undefined,
        },
      ]);
    });

    it('refuses a per-attempt timeout above the total timeout', () => {
      expect(configErrorMessage(() => resolve({ totalTimeout: 1_000 }, { timeout: 1_001 }))).toBe(
        'Invalid Baldur configuration: defaults.timeout: per-attempt timeout (1001 ms) exceeds totalTimeout (1000 ms)',
      );
    });

    it('reports both problems at once', () => {
      const error = configError(() =>
        resolve({ circuitBreaker: { minimumCalls: 200 }, timeout: 10, totalTimeout: 5 }),
      );
      expect(error.issues.map(i => i.path)).toEqual([
        'defaults.circuitBreaker.minimumCalls',
        'defaults.timeout',
      ]);
    });

    it('accepts the boundaries and an unbounded total', () => {
      expect(() =>
        resolve({ circuitBreaker: { minimumCalls: 100 }, timeout: 1_000, totalTimeout: 1_000 }),
      ).not.toThrow();
      expect(() => resolve({ timeout: 60_000, totalTimeout: 0 })).not.toThrow();
      expect(() => resolve({ circuitBreaker: false, timeout: 60_000 })).not.toThrow();
    });

    it('ignores minimumCalls of a breaker that is switched off', () => {
      expect(() =>
        resolve({ circuitBreaker: { minimumCalls: 500 } }, { circuitBreaker: false }),
      ).not.toThrow();
    });
  });
});

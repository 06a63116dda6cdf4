import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PolicyOptions } from '../../../src/config/schema';
import { defaultClassifier, type Classifier } from '../../../src/core/outcome';
import { RETRY_SAFE_CALL } from '../../../src/core/pipeline/options';
import { FULL_PATH } from '../../../src/core/pipeline/pipeline';
import {
  after,
  deferred,
  fail,
  harness,
  ok,
  scripted,
  track,
  type Harness,
  type HarnessOptions,
  type Step,
} from './pipeline-harness';

const noJitter = { jitter: 0, budget: false } as const;

describe('status() and stats', () => {
  it('numbers match what happened', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 2, failureRateThreshold: 0, recoveryTimeout: '10s' },
      retry: { maxAttempts: 2, backoff: 'constant', baseDelay: 100, ...noJitter },
      rateLimit: { limit: 4, per: '1m' },
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      cooldown: true,
    });
    const boom = new Error('boom');
    // 1: success. 2: fails, retried, succeeds. 3: fails twice: the breaker opens, retries run out.
    const s = scripted(h.clock, [ok('a'), fail(boom), ok('b'), fail(boom), fail(boom)]);
    h.call(s.fn);
    await h.flush();
    h.call(s.fn);
    await h.advance(100);
    const third = h.call(s.fn);
    await h.advance(100);
    expect(third.error).toBe(boom);
    expect(h.pipeline.breaker!.state).toBe('open');
    // 4: rejected by the open breaker. 5: rate limited (4 permits per minute, all used).
    h.call(s.fn);
    await h.flush();
    h.call(s.fn);
    await h.flush();
    expect(s.count).toBe(5);
    expect(h.pipeline.status()).toEqual({
      name: 'dep',
      circuitBreaker: {
        state: 'open',
        failureRate: undefined,
        slowCallRate: undefined,
        bufferedCalls: 0,
        consecutiveFailures: 0,
        halfOpenInFlight: 0,
        remainingMs: 10_000,
      },
      bulkhead: { active: 0, queued: 0, maxConcurrent: 1, maxQueue: 0 },
      rateLimit: { limit: 4, perMs: 60_000, allowed: 4, delayed: 0, rejected: 1 },
      cooldownRemainingMs: 0,
      calls: { success: 2, failure: 1, rejected: 2, timeout: 0, fallback: 0 },
      rejections: { circuit_open: 1, rate_limited: 1 },
      retries: { scheduled: 2, stopped: { exhausted: 1 } },
    });
    expect(h.pipeline.stats.outcomes).toEqual(
      new Map([
        ['failure/retry', 1],
        ['rejected/circuit_breaker', 1],
        ['rejected/rate_limit', 1],
      ]),
    );
  });

  it('records durations per outcome when asked to', async () => {
    const h = harness({ timeout: 1_000 }, { measureDurations: true });
    const s = scripted(h.clock, [
      after(30, ok(1)),
      after(70, ok(2)),
      after(20, fail(new Error('x'))),
    ]);
    h.call(s.fn);
    await h.advance(30);
    h.call(s.fn);
    await h.advance(70);
    h.call(s.fn);
    await h.advance(20);
    const success = h.pipeline.stats.durations.get('success')!;
    const failure = h.pipeline.stats.durations.get('failure')!;
    expect(success.count).toBe(2);
    expect(success.sumS).toBeCloseTo(0.1, 9);
    expect(success.maxS).toBeCloseTo(0.07, 9);
    expect(failure.count).toBe(1);
    expect(failure.sumS).toBeCloseTo(0.02, 9);
  });
});

describe('fast path and full path', () => {
  it('a failing first attempt on the fast path continues into retries', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 10 },
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter },
      bulkhead: { maxConcurrent: 1 },
      timeout: 100,
    });
    const s = scripted(h.clock, [fail(new Error('blip')), after(200, ok('late')), ok('third')]);
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect(call.value).toBe('third');
    expect(s.count).toBe(3);
    expect(h.ofType('timeout')).toMatchObject([{ attempt: 2, scope: 'attempt' }]);
    expect(h.pipeline.breaker!.snapshot()).toMatchObject({
      bufferedCalls: 3,
      consecutiveFailures: 0,
    });
    expect(h.pipeline.bulkhead!.active).toBe(0);
  });

  /**
   * A call run the way the HTTP instrumentation runs it: admitted with
   * `admitFirstAttempt`, the attempt made by the caller, its outcome reported
   * with `afterFirst` (through `execute` when the fast path does not apply).
   */
  function reportedCall(h: Harness, fn: (...args: never[]) => unknown, args: unknown[]) {
    const pipeline = h.pipeline;
    const permit = pipeline.admitFirstAttempt();
    if (permit === FULL_PATH) return track(pipeline.execute(fn, undefined, args));
    const startMs = pipeline.firstAttemptStartMs();
    const report = (isError: boolean, error: unknown, value: unknown): unknown =>
      pipeline.afterFirst(
        fn,
        undefined,
        args,
        RETRY_SAFE_CALL,
        isError,
        error,
        value,
        permit,
        false,
        startMs,
      );
    return track(
      Promise.resolve(fn(...(args as never[]))).then(
        value => report(false, undefined, value),
        (error: unknown) => report(true, error, undefined),
      ),
    );
  }

  /** What one run of a script looks like from outside. */
  async function observe(
    policy: PolicyOptions,
    scripts: Step[][],
    options: HarnessOptions = {},
    reported = false,
  ) {
    const h = harness(policy, options);
    const results: unknown[] = [];
    let count = 0;
    for (const steps of scripts) {
      const s = scripted(h.clock, steps);
      const call = reported ? reportedCall(h, s.fn, ['arg']) : h.call(s.fn, ['arg']);
      await h.advance(2_000);
      results.push(call.ok ? ['ok', call.value] : ['error', (call.error as Error).message]);
      count += s.count;
    }
    const { rateLimit: _ignored, ...status } = h.pipeline.status();
    return {
      results,
      count,
      status,
      events: h.events.map(e =>
        e.type === 'call.eventful' ? `${e.type}:${e.outcome}:${e.attempts}` : e.type,
      ),
    };
  }

  const outcome = fc.oneof(
    fc.constant(ok('fine')),
    fc.constant(fail(new Error('boom'))),
    fc.constant(fail(new DOMException('stop', 'AbortError'))),
    fc.constant(after(150, ok('slow'))),
    fc.constant(after(20, fail(new Error('late boom')))),
  );

  /** Every trigger in play; no attempt timeout (a test adds one where it wants it). */
  const untimed: PolicyOptions = {
    circuitBreaker: {
      failureThreshold: 3,
      failureRateThreshold: 50,
      minimumCalls: 4,
      slidingWindowSize: 8,
      recoveryTimeout: 500,
      halfOpenMaxCalls: 1,
      successThreshold: 1,
      slowCallDuration: 100,
      slowCallRateThreshold: 75,
    },
    retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter },
    bulkhead: { maxConcurrent: 2, maxQueue: 0 },
  };

  it('agree on results, attempts, breaker state, stats and events (property)', async () => {
    const base: PolicyOptions = { ...untimed, timeout: 100 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(outcome, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        async scripts => {
          const fast = await observe(base, scripts);
          // A rate limit nobody reaches forces every call through the full path.
          const full = await observe(
            { ...base, rateLimit: { limit: 1_000_000, per: '1s' } },
            scripts,
          );
          expect(full).toEqual(fast);
        },
      ),
      { seed: 2026, numRuns: 60 },
    );
  });

  it('a caller that reports its own first attempt sees what execute() shows (property)', async () => {
    // No attempt timeout: with one, admitFirstAttempt() sends every call through execute().
    const policy = untimed;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(outcome, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        async scripts => {
          const options = { measureDurations: true };
          const executed = await observe(policy, scripts, options);
          const reported = await observe(policy, scripts, options, true);
          expect(reported).toEqual(executed);
        },
      ),
      { seed: 2027, numRuns: 60 },
    );
  });

  it('admitFirstAttempt() leaves to execute() what the fast path cannot take', () => {
    expect(harness({ timeout: 100 }).pipeline.admitFirstAttempt()).toBe(FULL_PATH);
    const killed = harness({});
    killed.controls.killSwitch = true;
    expect(killed.pipeline.admitFirstAttempt()).toBe(FULL_PATH);
    const open = harness({ circuitBreaker: { failureThreshold: 1 } });
    open.pipeline.forceOpen(1_000);
    expect(open.pipeline.admitFirstAttempt()).toBe(FULL_PATH);
    const full = harness({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    expect(full.pipeline.admitFirstAttempt()).not.toBe(FULL_PATH);
    expect(full.pipeline.admitFirstAttempt()).toBe(FULL_PATH);
    expect(full.pipeline.bulkhead!.active).toBe(1);
  });
});

describe('a classifier that throws', () => {
  const throwing: Classifier = {
    classifyResult: () => {
      throw new Error('classifier bug');
    },
    classifyError: () => {
      throw new Error('classifier bug');
    },
    retryAfterMs: defaultClassifier.retryAfterMs,
  };

  it('is reported, and the default verdict applies', async () => {
    const h = harness({}, { extras: { classifier: throwing } });
    const value = h.call(() => 'value');
    const failure = h.call(() => Promise.reject(new Error('real failure')));
    await h.flush();
    expect(value.value).toBe('value');
    expect((failure.error as Error).message).toBe('real failure');
    expect(h.errors.map(e => [e.operation, (e.error as Error).message])).toEqual([
      ['classifier', 'classifier bug'],
      ['classifier', 'classifier bug'],
    ]);
  });

  it('does not strand a half-open probe slot', async () => {
    const h = harness(
      {
        circuitBreaker: {
          failureThreshold: 1,
          recoveryTimeout: 100,
          halfOpenMaxCalls: 1,
          successThreshold: 1,
        },
      },
      { extras: { classifier: throwing } },
    );
    h.call(() => Promise.reject(new Error('opens it')));
    await h.advance(100);
    const probe = h.call(() => 'probe');
    await h.flush();
    expect(probe.value).toBe('probe');
    expect(h.pipeline.breaker!.state).toBe('closed');
  });
});

describe('the bulkhead slot is never leaked', () => {
  const NEVER = (): Promise<never> => new Promise<never>(() => {});
  const throwingClassifier: Classifier = {
    classifyResult: () => {
      throw new Error('classifier bug');
    },
    classifyError: () => {
      throw new Error('classifier bug');
    },
    retryAfterMs: defaultClassifier.retryAfterMs,
  };

  const scenarios: {
    name: string;
    policy?: PolicyOptions;
    options?: HarnessOptions;
    run: (h: Harness) => void | Promise<void>;
  }[] = [
    { name: 'success', run: h => void h.call(() => 1) },
    {
      name: 'synchronous throw',
      run: h =>
        void h.call(() => {
          throw new Error('sync');
        }),
    },
    { name: 'rejection', run: h => void h.call(() => Promise.reject(new Error('x'))) },
    {
      name: 'neutral abort',
      run: h => void h.call(() => Promise.reject(new DOMException('a', 'AbortError'))),
    },
    {
      name: 'returned 503',
      run: h => void h.call(() => new Response(null, { status: 503 })),
    },
    {
      name: 'retries then success',
      policy: { retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter } },
      run: h => void h.call(scripted(h.clock, [fail(new Error('1')), ok(2)]).fn),
    },
    {
      name: 'retries exhausted',
      policy: { retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter } },
      run: h => void h.call(() => Promise.reject(new Error('x'))),
    },
    { name: 'attempt timeout', policy: { timeout: 50 }, run: h => void h.call(NEVER) },
    {
      name: 'total timeout',
      policy: {
        timeout: 50,
        totalTimeout: 120,
        retry: { maxAttempts: 5, backoff: 'constant', baseDelay: 10, ...noJitter },
      },
      run: h => void h.call(NEVER),
    },
    {
      name: 'onTimeout that throws',
      policy: { timeout: 50 },
      run: h =>
        void h.call(NEVER, [], {
          retrySafe: true,
          onTimeout: () => {
            throw new Error('cancel failed');
          },
        }),
    },
    {
      name: 'open breaker',
      policy: { circuitBreaker: {} },
      run: h => {
        h.pipeline.breaker!.forceOpen();
        h.call(() => 1);
      },
    },
    {
      name: 'half-open breaker out of probes',
      policy: {
        circuitBreaker: { failureThreshold: 1, recoveryTimeout: 100, halfOpenMaxCalls: 1 },
      },
      run: async h => {
        h.call(() => Promise.reject(new Error('x')));
        await h.advance(100);
        h.call(() => h.advance(10).then(() => 'probe'));
        h.call(() => 1);
      },
    },
    {
      name: 'queued, then served',
      run: async h => {
        const d = deferred();
        h.call(d.fn);
        h.call(() => 'queued');
        await h.flush();
        d.calls[0]!.resolve();
      },
    },
    {
      name: 'queue timeout',
      run: async h => {
        const d = deferred();
        h.call(d.fn);
        h.call(() => 'queued');
        await h.advance(1_000);
        d.calls[0]!.resolve();
      },
    },
    {
      name: 'observe mode with a full bulkhead',
      run: async h => {
        h.controls.observe = true;
        const d = deferred();
        h.call(d.fn);
        h.call(d.fn);
        h.call(() => 'observed');
        await h.advance(1_000);
        for (const c of d.calls) c.resolve();
      },
    },
    {
      name: 'fallback',
      options: { extras: { fallback: () => 'fb' } },
      run: h => void h.call(() => Promise.reject(new Error('x'))),
    },
    {
      name: 'fallback that throws',
      options: {
        extras: {
          fallback: () => {
            throw new Error('fb');
          },
        },
      },
      run: h => void h.call(() => Promise.reject(new Error('x'))),
    },
    {
      name: 'idempotency conflict and replay',
      options: {
        extras: {
          idempotency: {
            key: () => 'k',
            ttlMs: 60_000,
            executionTtlMs: 1_000,
            maxResultBytes: 100,
          },
        },
      },
      run: async h => {
        const d = deferred();
        h.call(d.fn);
        h.call(() => 'conflict');
        await h.flush();
        d.calls[0]!.resolve('stored');
        await h.flush();
        h.call(() => 'replayed');
      },
    },
    {
      name: 'a classifier that throws (fast path)',
      options: { extras: { classifier: throwingClassifier } },
      run: h => void h.call(() => 'value'),
    },
    {
      name: 'a classifier that throws (full path)',
      policy: { totalTimeout: '1s' },
      options: { extras: { classifier: throwingClassifier } },
      run: h => void h.call(() => Promise.reject(new Error('x'))),
    },
  ];

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const h = harness(
        { bulkhead: { maxConcurrent: 2, maxQueue: 1, queueTimeout: 500 }, ...scenario.policy },
        scenario.options,
      );
      await scenario.run(h);
      await h.advance(5_000);
      expect(h.pipeline.bulkhead!.active).toBe(0);
      expect(h.pipeline.bulkhead!.queued).toBe(0);
    });
  }
});

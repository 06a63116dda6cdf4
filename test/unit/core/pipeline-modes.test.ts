import { describe, expect, it } from 'vitest';
import {
  BaldurError,
  BulkheadFullError,
  CircuitOpenError,
  CooldownError,
  IdempotencyConflictError,
  RateLimitedError,
  TimeoutError,
} from '../../../src/core/errors';
import type { RejectedEvent } from '../../../src/core/events';
import { after, deferred, fail, harness, ok, scripted, tooManyRequests } from './pipeline-harness';

const noJitter = { jitter: 0, budget: false } as const;

describe('observe mode', () => {
  it('never rejects: an open breaker, an empty rate limit, a full bulkhead and a cooldown all let the call through', async () => {
    const h = harness({
      circuitBreaker: {},
      rateLimit: { limit: 1, per: '1m' },
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      cooldown: true,
    });
    h.controls.observe = true;
    const holder = deferred();
    h.call(holder.fn); // takes the rate-limit permit and the bulkhead slot
    await h.flush();
    h.pipeline.breaker!.forceOpen();
    h.pipeline.cooldown.extendTo(h.clock.monoMs() + 60_000);
    let calls = 0;
    const call = h.call(() => ++calls);
    await h.flush();
    expect(call.value).toBe(1);
    const rejected = h.ofType('call.rejected');
    expect(rejected.map(e => [e.reason, e.policy, e.observed])).toEqual([
      ['rate_limited', 'rate_limit', true],
      ['cooldown', 'cooldown', true],
      ['bulkhead_full', 'bulkhead', true],
      ['circuit_open', 'circuit_breaker', true],
    ]);
    expect(rejected.every(e => e.retryAfterMs === undefined || e.retryAfterMs > 0)).toBe(true);
    expect(h.pipeline.bulkhead!.active).toBe(1); // the observed call took no slot
    holder.calls[0]!.resolve();
    await h.flush();
    expect(h.pipeline.bulkhead!.active).toBe(0);
    // Counted as "would have rejected", but the call itself succeeded.
    expect(h.pipeline.status().calls).toMatchObject({ success: 2, rejected: 0 });
    expect(h.pipeline.status().rejections).toEqual({
      rate_limited: 1,
      cooldown: 1,
      bulkhead_full: 1,
      circuit_open: 1,
    });
  });

  it('an observed idempotency conflict still executes', async () => {
    const h = harness(
      {},
      {
        extras: {
          idempotency: {
            key: args => args[0] as string,
            ttlMs: 60_000,
            executionTtlMs: 10_000,
            maxResultBytes: 1_000,
          },
        },
      },
    );
    h.controls.observe = true;
    const d = deferred();
    h.call(d.fn, ['k']);
    h.call(d.fn, ['k']);
    await h.flush();
    expect(d.calls).toHaveLength(2);
    expect(h.ofType('call.rejected')).toMatchObject([
      { reason: 'idempotency_conflict', observed: true },
    ]);
  });

  it('enforce mode emits the same rejection with observed:false', async () => {
    const h = harness({ circuitBreaker: {} });
    h.pipeline.breaker!.forceOpen(60_000);
    const call = h.call(() => 'x');
    await h.flush();
    expect(call.error).toBeInstanceOf(CircuitOpenError);
    expect(h.ofType('call.rejected')).toMatchObject([
      { reason: 'circuit_open', observed: false, retryAfterMs: 60_000 },
    ]);
  });
});

describe('kill switch', () => {
  it('makes every policy pass-through: no rejection, no retry, no breaker counting, no events', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 1 },
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter },
      rateLimit: { limit: 1, per: '1m' },
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      timeout: 10,
    });
    h.controls.killSwitch = true;
    const boom = new Error('boom');
    const s = scripted(h.clock, [fail(boom)]);
    const results = [h.call(s.fn), h.call(s.fn), h.call(s.fn)];
    await h.advance(1_000);
    expect(results.map(r => r.error)).toEqual([boom, boom, boom]);
    expect(s.count).toBe(3); // no retries, no rate limit, no bulkhead
    expect(h.pipeline.breaker!.state).toBe('closed');
    expect(h.pipeline.breaker!.snapshot().bufferedCalls).toBe(0);
    expect(h.events).toEqual([]);
    // Even a forced-open breaker lets calls through.
    h.pipeline.breaker!.forceOpen();
    const slow = h.call(() => new Promise(resolve => h.clock.setTimer(() => resolve('slow'), 500)));
    await h.advance(500);
    expect(slow.value).toBe('slow'); // no attempt timeout either
  });

  it('passes synchronous throws and plain values through unchanged', async () => {
    const h = harness({ circuitBreaker: {} });
    h.controls.killSwitch = true;
    const thrown = new Error('sync');
    const a = h.call(() => {
      throw thrown;
    });
    const b = h.call(() => 7);
    await h.flush();
    expect(a.error).toBe(thrown);
    expect(b.value).toBe(7);
  });

  it('policies resume when the switch is released', async () => {
    const h = harness({ circuitBreaker: { failureThreshold: 1 } });
    h.controls.killSwitch = true;
    h.call(() => Promise.reject(new Error('ignored')));
    await h.flush();
    h.controls.killSwitch = false;
    h.call(() => Promise.reject(new Error('counted')));
    await h.flush();
    expect(h.pipeline.breaker!.state).toBe('open');
  });
});

describe('typed rejections', () => {
  const idempotency = {
    key: (args: readonly unknown[]) => args[0] as string | undefined,
    ttlMs: 60_000,
    executionTtlMs: 10_000,
    maxResultBytes: 1_000,
  };

  /** Each scenario provokes one rejection from a pipeline named "payments". */
  const scenarios: {
    name: string;
    provoke: () => Promise<unknown>;
    type: abstract new (...args: never[]) => BaldurError;
    expected: Record<string, unknown>;
  }[] = [
    {
      name: 'rate limit',
      provoke: async () => {
        const h = harness({ rateLimit: { limit: 1, per: '1s' } }, { name: 'payments' });
        h.call(() => 'first');
        await h.advance(250);
        const call = h.call(() => 'second');
        await h.flush();
        return call.error;
      },
      type: RateLimitedError,
      expected: { code: 'BALDUR_RATE_LIMITED', retryAfterMs: 750 },
    },
    {
      name: 'bulkhead queue full',
      provoke: async () => {
        const h = harness({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } }, { name: 'payments' });
        h.call(deferred().fn);
        const call = h.call(() => 'x');
        await h.flush();
        return call.error;
      },
      type: BulkheadFullError,
      expected: { code: 'BALDUR_BULKHEAD_FULL', reason: 'queue_full', retryAfterMs: undefined },
    },
    {
      name: 'bulkhead queue timeout',
      provoke: async () => {
        const h = harness(
          { bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: 300 } },
          { name: 'payments' },
        );
        h.call(deferred().fn);
        const call = h.call(() => 'x');
        await h.advance(304); // 300 ms and its deadline's 4 ms tick
        expect(h.pipeline.bulkhead!.queued).toBe(0);
        return call.error;
      },
      type: BulkheadFullError,
      expected: { code: 'BALDUR_BULKHEAD_FULL', reason: 'queue_timeout' },
    },
    {
      name: 'idempotency conflict',
      provoke: async () => {
        const h = harness({}, { name: 'payments', extras: { idempotency } });
        h.call(deferred().fn, ['order-1']);
        await h.advance(4_000);
        const call = h.call(() => 'x', ['order-1']);
        await h.flush();
        return call.error;
      },
      type: IdempotencyConflictError,
      // The claim may be taken over once executionTtl (10 s) plus the clock-skew allowance (5 s) pass.
      expected: {
        code: 'BALDUR_IDEMPOTENCY_CONFLICT',
        key: 'order-1',
        status: 'executing',
        retryAfterMs: 11_000,
      },
    },
    {
      name: 'open circuit',
      provoke: async () => {
        const h = harness({ circuitBreaker: { failureThreshold: 1 } }, { name: 'payments' });
        h.call(() => Promise.reject(new Error('down')));
        await h.advance(1_000);
        const call = h.call(() => 'x');
        await h.flush();
        return call.error;
      },
      type: CircuitOpenError,
      expected: { code: 'BALDUR_CIRCUIT_OPEN', state: 'open', retryAfterMs: 29_000 },
    },
    {
      name: 'cooldown',
      provoke: async () => {
        const h = harness({ cooldown: true }, { name: 'payments' });
        h.call(() => Promise.reject(tooManyRequests('4')));
        await h.advance(1_500);
        const call = h.call(() => 'x');
        await h.flush();
        return call.error;
      },
      type: CooldownError,
      expected: { code: 'BALDUR_COOLDOWN', retryAfterMs: 2_500 },
    },
  ];

  for (const scenario of scenarios) {
    it(`${scenario.name}: a BaldurError with code, dependency and retryAfterMs`, async () => {
      const error = await scenario.provoke();
      expect(error).toBeInstanceOf(scenario.type);
      expect(error).toBeInstanceOf(BaldurError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ dependency: 'payments', ...scenario.expected });
    });
  }

  it('a timeout is a TimeoutError with code BALDUR_TIMEOUT', async () => {
    const h = harness({ timeout: 25 }, { name: 'slow-dep' });
    const call = h.call(() => new Promise(() => {}));
    await h.advance(26); // 25 ms and its deadline's 1 ms tick
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect(call.error).toMatchObject({
      code: 'BALDUR_TIMEOUT',
      dependency: 'slow-dep',
      scope: 'attempt',
      timeoutMs: 25,
    });
    expect((call.error as TimeoutError).message).toContain('25 ms');
  });

  it('an open breaker reports the remaining recovery time, a half-open one none', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 1, recoveryTimeout: '10s', halfOpenMaxCalls: 1 },
    });
    h.call(() => Promise.reject(new Error('x')));
    await h.flush();
    await h.advance(4_000);
    const open = h.call(() => 'x');
    await h.flush();
    expect(open.error).toMatchObject({ retryAfterMs: 6_000, state: 'open' });
    await h.advance(6_000);
    const probe = deferred();
    h.call(probe.fn);
    const halfOpen = h.call(() => 'x');
    await h.flush();
    expect(halfOpen.error).toBeInstanceOf(CircuitOpenError);
    expect(halfOpen.error).toMatchObject({ retryAfterMs: undefined, state: 'half_open' });
  });
});

describe('call.eventful', () => {
  it('a successful first attempt emits no event at all', async () => {
    const h = harness({
      circuitBreaker: {},
      retry: { maxAttempts: 3 },
      bulkhead: { maxConcurrent: 5 },
      timeout: 1_000,
      deadLetter: true,
    });
    const call = h.call(() => 'fine');
    await h.advance(2_000);
    expect(call.value).toBe('fine');
    expect(h.events).toEqual([]);
  });

  it('carries the call’s decisions in order', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 2, failureRateThreshold: 0 },
      retry: { maxAttempts: 5, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const s = scripted(h.clock, [fail(new Error('down'))]);
    const call = h.call(s.fn);
    await h.advance(100);
    expect(call.settled).toBe(true);
    const [eventful] = h.eventful();
    expect(eventful).toMatchObject({ dependency: 'dep', outcome: 'failure', attempts: 2 });
    expect(eventful!.events.map(e => e.type)).toEqual([
      'retry.scheduled',
      'circuit_breaker.state_change',
      'retry.stopped',
    ]);
    expect(eventful!.events[1]).toMatchObject({
      from: 'closed',
      to: 'open',
      reason: 'consecutive_failures',
    });
    expect(eventful!.error).toBe(call.error);
    // Every decision was also published on its own, before the summary.
    expect(h.types()).toEqual([
      'retry.scheduled',
      'circuit_breaker.state_change',
      'retry.stopped',
      'call.eventful',
    ]);
  });

  it('a call that recovered on retry reports success with its attempts and duration', async () => {
    const h = harness({
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 50, ...noJitter },
      totalTimeout: '10s',
    });
    const s = scripted(h.clock, [fail(new Error('blip')), ok('ok')]);
    h.call(s.fn);
    await h.advance(100);
    expect(h.eventful()).toMatchObject([
      { outcome: 'success', attempts: 2, durationMs: 50, error: undefined },
    ]);
  });

  it('a successful first attempt that opens the breaker reports the transition itself', async () => {
    const h = harness({
      circuitBreaker: {
        failureThreshold: 0,
        failureRateThreshold: 0,
        slowCallDuration: 100,
        slowCallRateThreshold: 50,
        minimumCalls: 2,
        slidingWindowSize: 2,
      },
    });
    const s = scripted(h.clock, [
      after(150, ok('slow')),
      after(150, ok('slow again')),
      ok('never'),
    ]);
    h.call(s.fn);
    await h.advance(150);
    expect(h.events).toEqual([]);
    const second = h.call(s.fn);
    await h.advance(150);
    expect(second.value).toBe('slow again');
    expect(h.eventful()).toMatchObject([{ outcome: 'success', attempts: 1 }]);
    expect(h.eventful()[0]!.events).toMatchObject([
      {
        type: 'circuit_breaker.state_change',
        from: 'closed',
        to: 'open',
        reason: 'slow_call_rate',
      },
    ]);
    // The next call is rejected, and its trace shows only its own decision.
    h.call(s.fn);
    await h.flush();
    expect(h.eventful()[1]!.events.map(e => e.type)).toEqual(['call.rejected']);
  });

  it('rejections are eventful too', async () => {
    const h = harness({ rateLimit: { limit: 1, per: '1s' } });
    h.call(() => 1);
    const rejected = h.call(() => 2);
    await h.flush();
    expect(rejected.error).toBeInstanceOf(RateLimitedError);
    const [eventful] = h.eventful();
    expect(eventful).toMatchObject({ outcome: 'rejected', attempts: 0 });
    expect((eventful!.events[0] as RejectedEvent).reason).toBe('rate_limited');
  });
});

describe('429 in observe mode', () => {
  it('installs the cooldown but only observes it', async () => {
    const h = harness({ cooldown: true });
    h.controls.observe = true;
    h.call(() => Promise.reject(tooManyRequests('30')));
    await h.flush();
    const next = h.call(() => 'through');
    await h.flush();
    expect(next.value).toBe('through');
    expect(h.ofType('call.rejected')).toMatchObject([{ reason: 'cooldown', observed: true }]);
  });
});

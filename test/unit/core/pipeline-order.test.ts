import { describe, expect, it } from 'vitest';
import {
  BulkheadFullError,
  CircuitOpenError,
  CooldownError,
  IdempotencyConflictError,
  RateLimitedError,
  TimeoutError,
  type BaldurError,
} from '../../../src/core/errors';
import { CANONICAL_ORDER } from '../../../src/names/policies';
import { after, deferred, fail, harness, ok, scripted, tooManyRequests } from './pipeline-harness';

const NEVER = (): Promise<never> => new Promise<never>(() => {});
const noJitter = { jitter: 0, budget: false } as const;

describe('canonical order (SPEC §4)', () => {
  it('CANONICAL_ORDER lists the policies outermost first, as the SPEC does', () => {
    expect(CANONICAL_ORDER).toEqual([
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
    ]);
  });

  it('rate limit before bulkhead: a rate-limited call never touches the bulkhead', async () => {
    const h = harness({
      rateLimit: { limit: 1, per: '1s' },
      bulkhead: { maxConcurrent: 1, maxQueue: 5 },
    });
    const d = deferred();
    h.call(d.fn);
    await h.flush();
    expect(h.pipeline.bulkhead!.active).toBe(1);
    const second = h.call(d.fn);
    await h.flush();
    expect(second.error).toBeInstanceOf(RateLimitedError); // not queued behind the busy slot
    expect(h.pipeline.bulkhead!.queued).toBe(0);
    expect(h.types()).not.toContain('bulkhead.queued');
    expect(h.pipeline.status().rejections).toEqual({ rate_limited: 1 });
    d.calls[0]!.resolve('done');
    await h.flush();
    expect(h.pipeline.bulkhead!.active).toBe(0);
  });

  it('cooldown before bulkhead: a cooled-down call is not queued', async () => {
    const h = harness({ cooldown: true, bulkhead: { maxConcurrent: 1, maxQueue: 5 } });
    const first = h.call(() => Promise.reject(tooManyRequests('30')));
    await h.flush();
    expect(first.error).toBeInstanceOf(Error);
    const d = deferred();
    const second = h.call(d.fn);
    await h.flush();
    expect(second.error).toBeInstanceOf(CooldownError);
    expect(d.calls).toHaveLength(0);
    expect(h.pipeline.bulkhead!.active).toBe(0);
    expect(h.pipeline.bulkhead!.queued).toBe(0);
  });

  it('bulkhead before idempotency: a full bulkhead rejects before the key is looked at', async () => {
    const h = harness(
      { bulkhead: { maxConcurrent: 1, maxQueue: 0 } },
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
    const d = deferred();
    h.call(d.fn, ['key-1']);
    await h.flush();
    const duplicate = h.call(d.fn, ['key-1']);
    await h.flush();
    expect(duplicate.error).toBeInstanceOf(BulkheadFullError);
    expect(d.calls).toHaveLength(1);
  });

  it('idempotency inside the bulkhead: a conflicting duplicate gives its slot back', async () => {
    const h = harness(
      { bulkhead: { maxConcurrent: 2, maxQueue: 0 } },
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
    const d = deferred();
    h.call(d.fn, ['key-1']);
    await h.flush();
    const duplicate = h.call(d.fn, ['key-1']);
    await h.flush();
    expect(duplicate.error).toBeInstanceOf(IdempotencyConflictError);
    expect(h.pipeline.bulkhead!.active).toBe(1);
  });

  it('the bulkhead slot is held across retries and backoff delays', async () => {
    const h = harness({
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: '1s', ...noJitter },
    });
    const s = scripted(h.clock, [fail(new Error('e1')), fail(new Error('e2')), ok('third')]);
    const call = h.call(s.fn);
    await h.flush();
    expect(s.count).toBe(1);
    expect(h.pipeline.bulkhead!.active).toBe(1); // sleeping in backoff, still holding the slot
    const intruder = h.call(s.fn);
    await h.flush();
    expect(intruder.error).toBeInstanceOf(BulkheadFullError);
    expect((intruder.error as BulkheadFullError).reason).toBe('queue_full');
    await h.advance(1_000);
    expect(s.count).toBe(2);
    expect(h.pipeline.bulkhead!.active).toBe(1);
    await h.advance(1_000);
    expect(call.value).toBe('third');
    expect(s.count).toBe(3);
    expect(h.pipeline.bulkhead!.active).toBe(0);
  });

  it('the breaker sits inside retry: each attempt is one breaker outcome', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 10, failureRateThreshold: 0 },
      retry: { maxAttempts: 4, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const s = scripted(h.clock, [fail(new Error('down'))]);
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect(call.settled).toBe(true);
    expect(s.count).toBe(4);
    const snapshot = h.pipeline.breaker!.snapshot();
    expect(snapshot.consecutiveFailures).toBe(4);
    expect(snapshot.bufferedCalls).toBe(4);
  });

  it('an opening breaker stops the remaining attempts (not_retryable)', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 2, failureRateThreshold: 0, recoveryTimeout: '30s' },
      retry: { maxAttempts: 5, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const errors = [new Error('first'), new Error('second')];
    const s = scripted(h.clock, errors.map(fail));
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect(s.count).toBe(2);
    expect(call.error).toBe(errors[1]); // the dependency's own error, not CircuitOpenError
    expect(h.pipeline.breaker!.state).toBe('open');
    expect(h.ofType('retry.stopped')).toMatchObject([{ attempt: 2, reason: 'not_retryable' }]);
    expect(h.pipeline.status().retries).toEqual({
      scheduled: 1,
      stopped: { not_retryable: 1 },
    });
    // The next call is turned away by the open breaker without reaching the dependency.
    const next = h.call(s.fn);
    await h.flush();
    expect(next.error).toBeInstanceOf(CircuitOpenError);
    expect(s.count).toBe(2);
  });

  it('the attempt timeout is innermost: every attempt gets its own', async () => {
    const timeouts: Error[] = [];
    const h = harness({
      circuitBreaker: { failureThreshold: 10, failureRateThreshold: 0 },
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 50, ...noJitter },
      timeout: 100,
    });
    let calls = 0;
    const call = h.call(
      () => {
        calls++;
        return NEVER();
      },
      [],
      { retrySafe: true, onTimeout: error => timeouts.push(error) },
    );
    // Each attempt's 100 ms deadline fires one 1 ms tick late: at 101, 252 and 403.
    await h.advance(402);
    expect(call.settled).toBe(false);
    expect(calls).toBe(3);
    await h.advance(1);
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect(call.error).toMatchObject({ scope: 'attempt', timeoutMs: 100, dependency: 'dep' });
    expect(timeouts).toHaveLength(3);
    expect(h.pipeline.breaker!.snapshot().consecutiveFailures).toBe(3);
    expect(h.ofType('timeout').map(e => [e.scope, e.attempt])).toEqual([
      ['attempt', 1],
      ['attempt', 2],
      ['attempt', 3],
    ]);
    expect(h.pipeline.status().calls.timeout).toBe(1);
  });

  it('the total timeout bounds all attempts together', async () => {
    const h = harness({
      retry: { maxAttempts: 10, backoff: 'constant', baseDelay: 10, ...noJitter },
      timeout: 100,
      totalTimeout: 250,
    });
    let calls = 0;
    const call = h.call(() => {
      calls++;
      return NEVER();
    });
    await h.advance(250);
    expect(call.settled).toBe(false); // never early
    expect(calls).toBe(3); // at 0, 111 and 222 (1 ms ticks); the third is cut by the total deadline
    await h.advance(3); // within the 250 ms deadline's 3 ms tick
    expect(call.error).toBeInstanceOf(TimeoutError);
    expect(call.error).toMatchObject({ scope: 'total', timeoutMs: 250 });
    expect(h.pipeline.stats.outcomes.get('timeout/total_timeout')).toBe(1);
    expect(h.ofType('timeout').map(e => e.scope)).toEqual(['attempt', 'attempt', 'total']);
  });

  it('no retry is started that could not finish before the total deadline', async () => {
    const h = harness({
      retry: { maxAttempts: 10, backoff: 'constant', baseDelay: 100, ...noJitter },
      totalTimeout: 250,
    });
    const boom = new Error('boom');
    const s = scripted(h.clock, [fail(boom)]);
    const call = h.call(s.fn);
    await h.advance(200);
    expect(call.error).toBe(boom);
    expect(s.count).toBe(3); // at 0, 100, 200; a fourth would start at 300
    expect(h.ofType('retry.stopped')).toMatchObject([{ attempt: 3, reason: 'deadline' }]);
  });

  it('the total timeout starts inside the bulkhead: time spent queueing does not count', async () => {
    const h = harness({
      bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '5s' },
      totalTimeout: '1s',
    });
    const holder = deferred();
    h.call(holder.fn);
    const s = scripted(h.clock, [after(500, ok('late but in time'))]);
    const queued = h.call(s.fn);
    await h.advance(800);
    expect(s.count).toBe(0);
    holder.calls[0]!.resolve();
    await h.advance(600); // the queued call ran from 800 to 1300: within its own 1 s
    expect(queued.error).toBeUndefined();
    expect(queued.value).toBe('late but in time');
  });

  it('fallback is outermost: it sees rejections and replaces them', async () => {
    const h = harness(
      { circuitBreaker: {}, rateLimit: { limit: 1, per: '1m' } },
      { extras: { fallback: error => `fallback:${(error as BaldurError).code}` } },
    );
    h.pipeline.breaker!.forceOpen();
    const rejected = h.call(() => 'never called');
    await h.flush();
    expect(rejected.value).toBe('fallback:BALDUR_CIRCUIT_OPEN');
    h.pipeline.breaker!.reset();
    const limited = h.call(() => 'never called');
    await h.flush();
    expect(limited.value).toBe('fallback:BALDUR_RATE_LIMITED');
    const [first] = h.eventful();
    expect(first).toMatchObject({ outcome: 'fallback' });
    // (The operator's force-open transition is attached to this first call too; see the report.)
    const decisions = first!.events
      .map(e => e.type)
      .filter(t => t !== 'circuit_breaker.state_change');
    expect(decisions).toEqual(['call.rejected', 'fallback.used']);
    expect(h.eventful()[1]!.events.map(e => e.type)).toEqual(['call.rejected', 'fallback.used']);
    expect(h.pipeline.status().calls).toMatchObject({ fallback: 2, rejected: 0 });
  });

  it('fallback also replaces failures and timeouts, with the call’s arguments', async () => {
    const seen: unknown[] = [];
    const h = harness(
      { timeout: 50 },
      {
        extras: {
          fallback: (error, args) => {
            seen.push([error instanceof TimeoutError, args]);
            return 'cached';
          },
        },
      },
    );
    const call = h.call(NEVER, ['a', 1]);
    await h.advance(50);
    expect(call.settled).toBe(false);
    await h.advance(1);
    expect(call.value).toBe('cached');
    expect(seen).toEqual([[true, ['a', 1]]]);
  });

  it('a throwing fallback surfaces its own error', async () => {
    const fallbackError = new Error('fallback broke');
    const h = harness(
      {},
      {
        extras: {
          fallback: () => {
            throw fallbackError;
          },
        },
      },
    );
    const call = h.call(() => Promise.reject(new Error('original')));
    await h.flush();
    expect(call.error).toBe(fallbackError);
    expect(h.eventful()[0]).toMatchObject({ outcome: 'failure', error: fallbackError });
  });

  it('dead-letter capture happens before the fallback replaces the error', async () => {
    const h = harness({ deadLetter: true }, { extras: { fallback: () => 'fallback value' } });
    const call = h.call(() => Promise.reject(new Error('gateway down')), ['order-7']);
    await h.flush();
    expect(call.value).toBe('fallback value');
    await h.deadLetters.flush();
    const { entries } = await h.deadLetters.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      dependency: 'dep',
      reason: 'failure',
      args: ['order-7'],
      error: { name: 'Error', message: 'gateway down' },
    });
    const types = h.eventful()[0]!.events.map(e => e.type);
    expect(types).toEqual(['dead_letter.captured', 'fallback.used']);
  });
});

import { describe, expect, it } from 'vitest';
import { setRejectionStackTraces } from '../../../src/core/errors';
import { GcraLimiter } from '../../../src/core/policies/rate-limit/gcra';
import { retryAfterFromHeaders } from '../../../src/core/retry-after';
import { gcraTake } from '../../../src/store/gcra-take';
import { STUCK_PROBES_MS } from '../../../src/core/policies/circuit-breaker/circuit-breaker';
import { deferred, fail, harness, ok, scripted, tooManyRequests } from './pipeline-harness';

function abortError(): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}

describe('a caller’s own abort', () => {
  it('reaches the caller unchanged, without a dead letter or the fallback', async () => {
    let fallbacks = 0;
    const h = harness(
      { deadLetter: true },
      {
        extras: {
          fallback: () => {
            fallbacks++;
            return 'fallback';
          },
        },
      },
    );
    const aborted = abortError();
    const call = h.call(scripted(h.clock, [fail(aborted)]).fn);
    await h.flush();
    expect(call.error).toBe(aborted);
    expect(fallbacks).toBe(0);
    expect(h.ofType('dead_letter.captured')).toHaveLength(0);
    expect((await h.deadLetters.list()).entries).toHaveLength(0);
  });
});

describe('observe mode adds no latency', () => {
  it('does not queue behind a full bulkhead', async () => {
    const h = harness({ bulkhead: { maxConcurrent: 1, maxQueue: 5, queueTimeout: '10s' } });
    h.controls.observe = true;
    const holder = deferred();
    h.call(holder.fn);
    const second = h.call(() => 'second');
    await h.flush();
    // Enforce mode would still be waiting in the queue; observe mode went ahead.
    expect(second.value).toBe('second');
    expect(h.pipeline.bulkhead!.queued).toBe(0);
    expect(h.ofType('call.rejected')).toMatchObject([{ reason: 'bulkhead_full', observed: true }]);
  });

  it('does not wait for a rate-limit permit', async () => {
    const h = harness({ rateLimit: { limit: 1, per: '10s', maxWait: '10s' } });
    h.controls.observe = true;
    h.call(() => 'first');
    const second = h.call(() => 'second');
    await h.flush();
    expect(second.value).toBe('second');
    expect(h.pipeline.status().rateLimit).toMatchObject({ allowed: 1, delayed: 1 });
  });

  it('reports a stored idempotent result without replaying it', async () => {
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
    let executions = 0;
    const run = (): number => ++executions;
    h.call(run, ['k']);
    await h.flush();
    h.controls.observe = true;
    const again = h.call(run, ['k']);
    await h.flush();
    expect(again.value).toBe(2); // executed afresh, as without Baldur
    expect(h.ofType('idempotency.decision').map(e => e.decision)).toEqual(['claimed', 'replayed']);
  });
});

describe('breaker transitions no call caused', () => {
  it('are not attached to the next call’s trace', async () => {
    const h = harness({ circuitBreaker: {} });
    h.pipeline.forceOpen(1_000);
    h.pipeline.forceClose(1_000);
    h.pipeline.resetBreaker();
    expect(h.ofType('circuit_breaker.state_change').map(e => e.reason)).toEqual([
      'forced',
      'forced',
      'reset',
    ]);
    const call = h.call(() => 'fine');
    await h.flush();
    expect(call.value).toBe('fine');
    expect(h.eventful()).toHaveLength(0);
  });
});

describe('half-open probes that never report', () => {
  it('are abandoned after the stuck-probe window so the breaker can probe again', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 1, recoveryTimeout: '1s', halfOpenMaxCalls: 1 },
    });
    h.call(scripted(h.clock, [fail(new Error('down'))]).fn);
    await h.flush();
    expect(h.pipeline.breaker!.state).toBe('open');
    await h.advance(1_000);
    const hung = deferred();
    h.call(hung.fn); // the one probe; it never settles
    await h.flush();
    const rejected = h.call(() => 'x');
    await h.flush();
    expect(rejected.error).toMatchObject({ code: 'BALDUR_CIRCUIT_OPEN' });
    await h.advance(STUCK_PROBES_MS);
    const probe = h.call(() => 'recovered');
    await h.flush();
    expect(probe.value).toBe('recovered');
    expect(h.ofType('circuit_breaker.state_change').map(e => e.reason)).toContain('probes_stuck');
  });
});

describe('retry stop reasons and cooldowns', () => {
  it('a total timeout that cuts an attempt stops retrying with reason "deadline"', async () => {
    const h = harness({
      retry: { maxAttempts: 5, baseDelay: 0, jitter: 0 },
      totalTimeout: '100ms',
    });
    const call = h.call(() => new Promise(() => {}));
    await h.advance(150);
    expect(call.error).toMatchObject({ code: 'BALDUR_TIMEOUT', scope: 'total', timeoutMs: 100 });
    expect(h.ofType('retry.stopped').map(e => e.reason)).toEqual(['deadline']);
  });

  it('"Retry-After: 0" installs no cooldown', async () => {
    const h = harness({ cooldown: true });
    const call = h.call(scripted(h.clock, [fail(tooManyRequests('0'))]).fn);
    await h.flush();
    expect(call.error).toBeInstanceOf(Error);
    expect(h.ofType('cooldown.installed')).toHaveLength(0);
    const next = h.call(scripted(h.clock, [ok('fine')]).fn);
    await h.flush();
    expect(next.value).toBe('fine');
  });

  it('reads Retry-After from hand-built header objects whatever the case', () => {
    expect(retryAfterFromHeaders({ 'Retry-After': '5' }, 0)).toBe(5_000);
    expect(retryAfterFromHeaders({ 'RETRY-AFTER-MS': '250' }, 0)).toBe(250);
  });
});

describe('GCRA at large clock values', () => {
  it('keeps the whole burst when time is counted in epoch milliseconds', () => {
    const now = Date.UTC(2026, 10, 22);
    const limiter = new GcraLimiter({ limit: 30, perMs: 1_000, burst: 30, maxWaitMs: 0 });
    let admitted = 0;
    for (let i = 0; i < 40; i++) if (limiter.acquire(now) === 0) admitted++;
    expect(admitted).toBe(30);
    expect(gcraTake(now, now, { requested: 40, limit: 30, perMs: 1_000, burst: 30 }).granted).toBe(
      30,
    );
  });
});

describe('observe mode and timeouts', () => {
  it('lets a slow call finish and reports the timeout it would have cut', async () => {
    const h = harness({ timeout: '100ms' });
    h.controls.observe = true;
    const call = h.call(scripted(h.clock, [{ ms: 250, then: ok('late but fine') }]).fn);
    await h.advance(300);
    expect(call.value).toBe('late but fine');
    expect(h.ofType('timeout')).toMatchObject([
      { scope: 'attempt', timeoutMs: 100, observed: true },
    ]);
  });
});

describe('failures found after a success', () => {
  it('continue the consecutive-failure streak (a body cut mid-stream)', async () => {
    const h = harness({ circuitBreaker: { failureThreshold: 3, failureRateThreshold: 0 } });
    for (let i = 0; i < 3; i++) {
      const call = h.call(() => 'headers arrived');
      await h.flush();
      expect(call.value).toBe('headers arrived');
      h.pipeline.recordLateFailure();
    }
    expect(h.pipeline.breaker!.state).toBe('open');
  });
});

describe('rejection stack traces', () => {
  it('are off by default and can be turned on', async () => {
    const h = harness({ circuitBreaker: {} });
    h.pipeline.forceOpen(60_000);
    const cheap = h.call(() => 'x');
    await h.flush();
    expect((cheap.error as Error).stack).toBe(
      `CircuitOpenError: ${(cheap.error as Error).message}`,
    );
    setRejectionStackTraces(true);
    try {
      const traced = h.call(() => 'x');
      await h.flush();
      expect((traced.error as Error).stack).toMatch(/\n\s+at /);
    } finally {
      setRejectionStackTraces(false);
    }
  });
});

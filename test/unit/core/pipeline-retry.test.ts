import { describe, expect, it } from 'vitest';
import { CooldownError } from '../../../src/core/errors';
import { NOT_RETRY_SAFE_CALL, RETRY_SAFE_CALL } from '../../../src/core/pipeline/options';
import { after, fail, harness, ok, scripted, tooManyRequests } from './pipeline-harness';

const noJitter = { jitter: 0, budget: false } as const;

function http(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers });
}

describe('retry', () => {
  it('retries a failing call and returns the first success', async () => {
    const h = harness({
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 100, ...noJitter },
    });
    const s = scripted(h.clock, [fail(new Error('a')), fail(new Error('b')), ok('c')]);
    const call = h.call(s.fn, ['x']);
    await h.advance(199);
    expect(call.settled).toBe(false);
    await h.advance(1);
    expect(call.value).toBe('c');
    expect(s.seen).toEqual([['x'], ['x'], ['x']]);
    expect(h.ofType('retry.scheduled').map(e => [e.attempt, e.delayMs])).toEqual([
      [1, 100],
      [2, 100],
    ]);
  });

  it('retries only when the call is safe to repeat', async () => {
    const h = harness({
      retry: { maxAttempts: 5, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const boom = new Error('boom');
    const s = scripted(h.clock, [fail(boom)]);
    const call = h.call(s.fn, [], NOT_RETRY_SAFE_CALL);
    await h.advance(1_000);
    expect(call.error).toBe(boom);
    expect(s.count).toBe(1);
    expect(h.ofType('retry.stopped')).toEqual([]); // retry does not apply at all
  });

  it('never makes more than maxAttempts attempts', async () => {
    const h = harness({
      retry: { maxAttempts: 4, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const s = scripted(h.clock, [fail(new Error('always'))]);
    const call = h.call(s.fn, [], RETRY_SAFE_CALL);
    await h.advance(10_000);
    expect(call.settled).toBe(true);
    expect(s.count).toBe(4);
    expect(h.ofType('retry.stopped')).toMatchObject([{ attempt: 4, reason: 'exhausted' }]);
    expect(h.eventful()[0]).toMatchObject({ outcome: 'failure', attempts: 4 });
  });

  it('uses the backoff delays, with jitter from the injected random', async () => {
    const h = harness({
      retry: {
        maxAttempts: 4,
        backoff: 'exponential',
        baseDelay: 100,
        multiplier: 2,
        jitter: 0.5,
        budget: false,
      },
    });
    const s = scripted(h.clock, [fail(new Error('x'))]);
    h.call(s.fn);
    await h.advance(10_000);
    const delays = h.ofType('retry.scheduled').map(e => e.delayMs);
    expect(delays).toHaveLength(3);
    delays.forEach((delay, i) => {
      const nominal = 100 * 2 ** i;
      expect(delay).toBeGreaterThanOrEqual(nominal * 0.5);
      expect(delay).toBeLessThanOrEqual(nominal * 1.5);
    });
    expect(new Set(delays).size).toBe(3);
  });

  it('does not retry outcomes retryIf refuses', async () => {
    const h = harness(
      { retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter } },
      {
        extras: {
          retryIf: outcome => !(!outcome.ok && (outcome.error as Error).message === 'fatal'),
        },
      },
    );
    const s = scripted(h.clock, [fail(new Error('transient')), fail(new Error('fatal'))]);
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect((call.error as Error).message).toBe('fatal');
    expect(s.count).toBe(2);
    expect(h.ofType('retry.stopped')).toMatchObject([{ attempt: 2, reason: 'not_retryable' }]);
  });

  it('a neutral outcome (AbortError) is neither retried nor counted by the breaker', async () => {
    const h = harness({
      circuitBreaker: { failureThreshold: 1 },
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const abort = new DOMException('caller gave up', 'AbortError');
    const s = scripted(h.clock, [fail(abort)]);
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect(call.error).toBe(abort);
    expect(s.count).toBe(1);
    expect(h.pipeline.breaker!.state).toBe('closed');
    expect(h.pipeline.breaker!.snapshot().bufferedCalls).toBe(0);
  });

  it('retries a returned 503 response and hands back the last response when retries run out', async () => {
    const h = harness({
      retry: { maxAttempts: 2, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const last = http(503);
    const s = scripted(h.clock, [ok(http(503)), ok(last)]);
    const call = h.call(s.fn);
    await h.advance(100);
    expect(call.value).toBe(last); // fetch semantics: a response is returned, not thrown
    expect(s.count).toBe(2);
    expect(h.pipeline.status().calls.failure).toBe(1);
  });

  it('a 4xx response is a success: no retry', async () => {
    const h = harness({
      retry: { maxAttempts: 3, backoff: 'constant', baseDelay: 10, ...noJitter },
    });
    const s = scripted(h.clock, [ok(http(404))]);
    const call = h.call(s.fn);
    await h.flush();
    expect((call.value as Response).status).toBe(404);
    expect(s.count).toBe(1);
    expect(h.events).toEqual([]);
  });

  it('Retry-After is a floor on the delay', async () => {
    const h = harness({
      retry: { maxAttempts: 2, backoff: 'constant', baseDelay: 100, maxDelay: '5s', ...noJitter },
    });
    const hinted = Object.assign(new Error('busy'), { retryAfterMs: 700 });
    const s = scripted(h.clock, [fail(hinted), ok('fine')]);
    const call = h.call(s.fn);
    await h.advance(699);
    expect(s.count).toBe(1);
    await h.advance(1);
    expect(call.value).toBe('fine');
    expect(h.ofType('retry.scheduled')).toMatchObject([{ delayMs: 700, retryAfterMs: 700 }]);
  });

  it('a backoff longer than Retry-After is kept', async () => {
    const h = harness({
      retry: { maxAttempts: 2, backoff: 'constant', baseDelay: 900, ...noJitter },
    });
    const s = scripted(h.clock, [
      fail(Object.assign(new Error('busy'), { retryAfterMs: 200 })),
      ok(1),
    ]);
    h.call(s.fn);
    await h.advance(2_000);
    expect(h.ofType('retry.scheduled')).toMatchObject([{ delayMs: 900, retryAfterMs: 200 }]);
  });

  it('a Retry-After beyond maxDelay stops retrying', async () => {
    const h = harness({
      cooldown: false,
      retry: { maxAttempts: 5, backoff: 'constant', baseDelay: 10, maxDelay: '2s', ...noJitter },
    });
    const s = scripted(h.clock, [fail(tooManyRequests('3')), ok('never')]);
    const call = h.call(s.fn);
    await h.advance(10_000);
    expect((call.error as Error).message).toBe('HTTP 429');
    expect(s.count).toBe(1);
    expect(h.ofType('retry.stopped')).toMatchObject([{ reason: 'retry_after_too_long' }]);
  });

  it('maxElapsed: no retry starts once it has passed since the call began', async () => {
    const h = harness({
      retry: { maxAttempts: 10, backoff: 'constant', baseDelay: 100, maxElapsed: 250, ...noJitter },
    });
    const s = scripted(h.clock, [after(20, fail(new Error('slow fail')))]);
    h.call(s.fn);
    await h.advance(10_000);
    // Attempts start at 0, 120 and 240 (each fails after 20 ms); a fourth would start at 360.
    expect(s.count).toBe(3);
    expect(h.ofType('retry.stopped')).toMatchObject([{ attempt: 3, reason: 'deadline' }]);
  });

  it('the retry budget stops retries once spent', async () => {
    const h = harness({
      retry: {
        maxAttempts: 3,
        backoff: 'constant',
        baseDelay: 10,
        jitter: 0,
        budget: { ratio: 0, minPerSecond: 0.2, window: '10s' }, // 2 retries per 10 s
      },
    });
    const s = scripted(h.clock, [fail(new Error('down'))]);
    const first = h.call(s.fn);
    await h.advance(100);
    expect(first.settled).toBe(true);
    expect(s.count).toBe(3);
    const second = h.call(s.fn);
    await h.advance(100);
    expect(second.settled).toBe(true);
    expect(s.count).toBe(4);
    expect(h.pipeline.status().retries).toEqual({
      scheduled: 2,
      stopped: { exhausted: 1, budget: 1 },
    });
  });
});

describe('shared 429/503 cooldown', () => {
  it('a thrown 429 with Retry-After turns later callers away until it passes', async () => {
    const h = harness({ cooldown: true });
    const first = h.call(() => Promise.reject(tooManyRequests('5')));
    await h.flush();
    expect((first.error as Error).message).toBe('HTTP 429');
    expect(h.ofType('cooldown.installed')).toMatchObject([{ retryAfterMs: 5_000 }]);
    await h.advance(2_000);
    let calls = 0;
    const second = h.call(() => ++calls);
    await h.flush();
    expect(second.error).toBeInstanceOf(CooldownError);
    expect(second.error).toMatchObject({
      code: 'BALDUR_COOLDOWN',
      dependency: 'dep',
      retryAfterMs: 3_000,
    });
    expect(calls).toBe(0);
    await h.advance(3_000);
    const third = h.call(() => ++calls);
    await h.flush();
    expect(third.value).toBe(1);
  });

  it('a returned 503 response with Retry-After installs it too', async () => {
    const h = harness({ cooldown: true });
    h.call(() => http(503, { 'Retry-After': '2' }));
    await h.flush();
    expect(h.pipeline.status().cooldownRemainingMs).toBe(2_000);
  });

  it('a 500 with Retry-After, or a 429 without it, installs nothing', async () => {
    const h = harness({ cooldown: true });
    h.call(() => http(500, { 'Retry-After': '2' }));
    h.call(() => http(429));
    await h.flush();
    expect(h.pipeline.status().cooldownRemainingMs).toBe(0);
    expect(h.ofType('cooldown.installed')).toEqual([]);
  });

  it('cooldowns only extend, never shrink', async () => {
    const h = harness({ cooldown: true });
    h.call(() => Promise.reject(tooManyRequests('10')));
    await h.flush();
    await h.advance(1_000);
    // A request already in flight comes back with a shorter hint: 9 s remain, 3 s asked.
    await h.pipeline
      .execute(() => Promise.reject(tooManyRequests('3')), undefined, [])
      .catch(() => {});
    expect(h.pipeline.status().cooldownRemainingMs).toBe(9_000);
    expect(h.ofType('cooldown.installed')).toHaveLength(1);
  });

  it('is off with cooldown: false', async () => {
    const h = harness({ cooldown: false });
    h.call(() => Promise.reject(tooManyRequests('10')));
    await h.flush();
    const next = h.call(() => 'ok');
    await h.flush();
    expect(next.value).toBe('ok');
  });

  it('the retry waits out the hint and the cooldown does not reject the call’s own retry', async () => {
    const h = harness({
      cooldown: true,
      retry: { maxAttempts: 2, backoff: 'constant', baseDelay: 10, maxDelay: '5s', ...noJitter },
    });
    const s = scripted(h.clock, [fail(tooManyRequests('1')), ok('after cooldown')]);
    const call = h.call(s.fn);
    await h.advance(1_000);
    expect(call.value).toBe('after cooldown');
    expect(s.count).toBe(2);
  });
});

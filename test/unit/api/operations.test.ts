import { hostname } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CircuitOpenError,
  DeadLetterReplayError,
  breakers,
  deadLetters,
  onReplay,
  protect,
  setKillSwitch,
  setMode,
  start,
  status,
  type PipelineStatus,
} from '../../../src/index';
import { FlakyError, isolateGlobalState, rejectionOf, unique } from './helpers';

isolateGlobalState();

const failing = (): never => {
  throw new FlakyError('down');
};

function pipeline(name: string): PipelineStatus {
  const found = status().pipelines.find(p => p.name === name);
  if (found === undefined) throw new Error(`no pipeline named ${name}`);
  return found;
}

describe('dead letters', () => {
  it('captures a failed call with its arguments and error', async () => {
    const name = unique('charge');
    const call = protect(name, (_orderId: string, _amount: number) => failing(), {
      deadLetter: true,
    });
    await rejectionOf(call('o-1', 5));
    await deadLetters.flush();
    const { entries, unreadable, nextBeforeId } = await deadLetters.list();
    expect(unreadable).toEqual([]);
    expect(nextBeforeId).toBeUndefined();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      dependency: name,
      status: 'pending',
      reason: 'failure',
      error: { name: 'FlakyError', message: 'down' },
      args: ['o-1', 5],
      replayAttempts: 0,
    });
    expect(await deadLetters.get(entries[0]!.id)).toEqual(entries[0]);
  });

  it('captures nothing without deadLetter', async () => {
    await rejectionOf(protect(unique('no-dlq'), failing)());
    expect((await deadLetters.list()).entries).toEqual([]);
  });

  it('captures after retries, once per call, and still uses the fallback', async () => {
    const fn = vi.fn(failing);
    const call = protect(unique('dlq-fallback'), fn, {
      deadLetter: true,
      retry: { maxAttempts: 3, baseDelay: 0 },
      fallback: () => 'queued',
    });
    expect(await call()).toBe('queued');
    expect(fn).toHaveBeenCalledTimes(3);
    expect((await deadLetters.list()).entries).toHaveLength(1);
  });

  it('captures rejections only with capture: "all"', async () => {
    const failuresOnly = protect(unique('failures-only'), failing, {
      deadLetter: true,
      circuitBreaker: { failureThreshold: 1 },
    });
    await rejectionOf(failuresOnly());
    await rejectionOf(failuresOnly());
    expect((await deadLetters.list()).entries.map(e => e.reason)).toEqual(['failure']);

    const name = unique('all');
    const all = protect(name, failing, {
      deadLetter: { capture: 'all' },
      circuitBreaker: { failureThreshold: 1 },
    });
    await rejectionOf(all());
    expect(await rejectionOf(all())).toBeInstanceOf(CircuitOpenError);
    const captured = await deadLetters.list({ dependency: name });
    expect(captured.entries.map(e => [e.reason, e.error.name])).toEqual([
      ['rejected', 'CircuitOpenError'],
      ['failure', 'FlakyError'],
    ]);
  });

  it('replays by re-invoking the protected function with the captured arguments', async () => {
    const name = unique('replay-default');
    let healthy = false;
    const fn = vi.fn((orderId: string) => {
      if (!healthy) throw new FlakyError('down');
      return `charged ${orderId}`;
    });
    const call = protect(name, fn, { deadLetter: true });
    await rejectionOf(call('o-9'));
    const [entry] = (await deadLetters.list()).entries;
    healthy = true;
    const result = await deadLetters.replay(entry!.id);
    expect(result).toMatchObject({
      ok: true,
      value: 'charged o-9',
      entry: { id: entry!.id, status: 'replayed', replayAttempts: 1 },
    });
    expect(fn).toHaveBeenLastCalledWith('o-9');
    expect(await deadLetters.get(entry!.id)).toMatchObject({ status: 'replayed' });
    const again = await rejectionOf(deadLetters.replay(entry!.id));
    expect(again).toBeInstanceOf(DeadLetterReplayError);
    expect((again as DeadLetterReplayError).reason).toBe('already_replayed');
  });

  it('does not capture a new dead letter when a replay fails', async () => {
    const call = protect(unique('replay-fails'), failing, { deadLetter: true });
    await rejectionOf(call());
    const [entry] = (await deadLetters.list()).entries;
    const result = await deadLetters.replay(entry!.id);
    expect(result.ok).toBe(false);
    expect(result.error).toBeInstanceOf(FlakyError);
    await deadLetters.flush();
    const { entries } = await deadLetters.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      id: entry!.id,
      status: 'failed',
      replayAttempts: 1,
      lastReplayError: 'down',
    });
  });

  it('replays through an onReplay handler, which takes precedence until disposed', async () => {
    const name = unique('replay-handler');
    const fn = vi.fn((_id: string) => {
      throw new FlakyError('down');
    });
    const call = protect(name, fn, { deadLetter: true });
    await rejectionOf(call('a'));
    await rejectionOf(call('b'));
    const [second, first] = (await deadLetters.list()).entries;
    const handler = vi.fn((args: unknown[]) => `handled ${String(args[0])}`);
    const registration = onReplay(name, handler);
    try {
      const result = await deadLetters.replay(first!.id);
      expect(result).toMatchObject({ ok: true, value: 'handled a' });
      expect(handler).toHaveBeenCalledWith(['a'], expect.objectContaining({ id: first!.id }));
      expect(fn).toHaveBeenCalledTimes(2);
    } finally {
      registration.dispose();
    }
    const fallbackToDefault = await deadLetters.replay(second!.id);
    expect(fallbackToDefault.ok).toBe(false);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('keeps onReplay registrations across start()', async () => {
    const name = unique('replay-restart');
    const registration = onReplay(name, () => 'from handler');
    try {
      const call = protect(name, failing, { deadLetter: true });
      start();
      await rejectionOf(call());
      const [entry] = (await deadLetters.list()).entries;
      expect(await deadLetters.replay(entry!.id)).toMatchObject({
        ok: true,
        value: 'from handler',
      });
    } finally {
      registration.dispose();
    }
  });

  it('rejects replaying an unknown id with not_found', async () => {
    const error = await rejectionOf(deadLetters.replay('does-not-exist'));
    expect(error).toBeInstanceOf(DeadLetterReplayError);
    expect(error).toMatchObject({
      reason: 'not_found',
      message: 'dead letter "does-not-exist" not found',
    });
  });

  it('filters, pages and removes', async () => {
    const nameA = unique('a');
    const a = protect(nameA, (_n: number) => failing(), { deadLetter: true });
    const b = protect(unique('b'), (_n: number) => failing(), { deadLetter: true });
    for (let i = 0; i < 3; i++) {
      await rejectionOf(a(i));
      await rejectionOf(b(i));
    }
    const onlyA = await deadLetters.list({ dependency: nameA });
    expect(onlyA.entries.map(e => e.args)).toEqual([[2], [1], [0]]);
    const page = await deadLetters.list({ limit: 4 });
    expect(page.entries).toHaveLength(4);
    const rest = await deadLetters.list({ limit: 4, beforeId: page.nextBeforeId! });
    expect(rest.entries).toHaveLength(2);
    expect(rest.nextBeforeId).toBeUndefined();

    const id = onlyA.entries[0]!.id;
    expect(await deadLetters.remove(id)).toBe(true);
    expect(await deadLetters.remove(id)).toBe(false);
    expect(await deadLetters.get(id)).toBeUndefined();
    expect((await deadLetters.list()).entries).toHaveLength(5);
    expect((await deadLetters.list({ status: 'pending' })).entries).toHaveLength(5);
  });

  it('keeps at most deadLetters.maxEntries', async () => {
    start({ deadLetters: { maxEntries: 2 } });
    const call = protect(unique('bounded'), (_n: number) => failing(), { deadLetter: true });
    for (let i = 0; i < 4; i++) await rejectionOf(call(i));
    expect((await deadLetters.list()).entries.map(e => e.args)).toEqual([[3], [2]]);
  });
});

describe('status()', () => {
  it('describes the instance, controls and store before any call', () => {
    start({ serviceName: 'checkout' });
    const snapshot = status();
    expect(snapshot).toEqual({
      instance: {
        id: expect.stringMatching(/^[0-9a-f]{10}$/),
        serviceName: 'checkout',
        hostname: hostname(),
        pid: process.pid,
        startedAtWallMs: expect.any(Number),
      },
      mode: 'enforce',
      killSwitch: false,
      controlReason: undefined,
      store: { kind: 'memory' },
      pipelines: [],
    });
    expect(Math.abs(snapshot.instance.startedAtWallMs - Date.now())).toBeLessThan(60_000);
  });

  it('counts outcomes and shows the breaker of each protected function', async () => {
    const name = unique('counted');
    let fail = false;
    const call = protect(
      name,
      () => {
        if (fail) throw new FlakyError('down');
        return 'ok';
      },
      { circuitBreaker: { failureThreshold: 2 } },
    );
    await call();
    await call();
    fail = true;
    await rejectionOf(call());
    expect(pipeline(name)).toEqual({
      name,
      circuitBreaker: {
        state: 'closed',
        failureRate: undefined,
        slowCallRate: undefined,
        bufferedCalls: 3,
        consecutiveFailures: 1,
        halfOpenInFlight: 0,
        remainingMs: undefined,
      },
      bulkhead: undefined,
      rateLimit: undefined,
      cooldownRemainingMs: 0,
      calls: { success: 2, failure: 1, rejected: 0, timeout: 0, fallback: 0 },
      rejections: {},
      retries: { scheduled: 0, stopped: {} },
    });
    await rejectionOf(call());
    await rejectionOf(call());
    const open = pipeline(name);
    expect(open.circuitBreaker).toMatchObject({ state: 'open', bufferedCalls: 0 });
    expect(open.circuitBreaker!.remainingMs).toBeGreaterThan(0);
    expect(open.circuitBreaker!.remainingMs).toBeLessThanOrEqual(30_000);
    expect(open.calls).toEqual({ success: 2, failure: 2, rejected: 1, timeout: 0, fallback: 0 });
    expect(open.rejections).toEqual({ circuit_open: 1 });
  });

  it('reports retries, fallbacks, bulkheads and rate limits', async () => {
    const name = unique('everything');
    let calls = 0;
    const call = protect(
      name,
      () => {
        calls++;
        if (calls <= 3) throw new FlakyError('down');
        return 'ok';
      },
      {
        retry: { maxAttempts: 2, baseDelay: 0 },
        fallback: () => 'fallback',
        bulkhead: { maxConcurrent: 4, maxQueue: 8 },
        rateLimit: { limit: 3, per: '1h' },
        circuitBreaker: false,
      },
    );
    expect(await call()).toBe('fallback'); // attempts 1 and 2 fail
    expect(await call()).toBe('ok'); // attempt 3 fails, 4 succeeds
    expect(await call()).toBe('ok');
    expect(await call()).toBe('fallback'); // rate limited
    expect(pipeline(name)).toEqual({
      name,
      circuitBreaker: undefined,
      bulkhead: { active: 0, queued: 0, maxConcurrent: 4, maxQueue: 8 },
      rateLimit: { limit: 3, perMs: 3_600_000, allowed: 3, delayed: 0, rejected: 1 },
      cooldownRemainingMs: 0,
      calls: { success: 2, failure: 0, rejected: 0, timeout: 0, fallback: 2 },
      rejections: { rate_limited: 1 },
      retries: { scheduled: 2, stopped: { exhausted: 1 } },
    });
  });

  it('shows a running cooldown', async () => {
    const name = unique('cooling');
    const call = protect(name, () => {
      throw Object.assign(new Error('429'), { retryAfterMs: 60_000 });
    });
    await rejectionOf(call());
    const { cooldownRemainingMs } = pipeline(name);
    expect(cooldownRemainingMs).toBeGreaterThan(0);
    expect(cooldownRemainingMs).toBeLessThanOrEqual(60_000);
  });
});

describe('breakers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('report false for a name without a breaker', async () => {
    expect(breakers.forceOpen(unique('never-called'))).toBe(false);
    const name = unique('no-breaker');
    await protect(name, () => 'ok', { circuitBreaker: false })();
    expect(breakers.forceOpen(name)).toBe(false);
    expect(breakers.forceClose(name)).toBe(false);
    expect(breakers.reset(name)).toBe(false);
  });

  it('forceOpen rejects every call for 90 minutes by default', async () => {
    const name = unique('forced-open');
    const fn = vi.fn(() => 'ok');
    const call = protect(name, fn);
    await call();
    expect(breakers.forceOpen(name)).toBe(true);
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toMatchObject({
      state: 'forced_open',
      message: `Circuit breaker for "${name}" is forced open`,
    });
    const retryAfterMs = (error as CircuitOpenError).retryAfterMs!;
    expect(retryAfterMs).toBeGreaterThan(90 * 60_000 - 60_000);
    expect(retryAfterMs).toBeLessThanOrEqual(90 * 60_000);
    expect(pipeline(name).circuitBreaker?.state).toBe('forced_open');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('a forced state expires after its ttl', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const name = unique('forced-ttl');
    const call = protect(name, () => 'ok');
    await call();
    breakers.forceOpen(name, 1_000);
    vi.advanceTimersByTime(999);
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
    vi.advanceTimersByTime(1);
    expect(await call()).toBe('ok');
    expect(pipeline(name).circuitBreaker?.state).toBe('closed');
  });

  it('forceClose lets every call through, failures included', async () => {
    const name = unique('forced-closed');
    const fn = vi.fn(failing);
    const call = protect(name, fn, { circuitBreaker: { failureThreshold: 1 } });
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
    expect(breakers.forceClose(name)).toBe(true);
    for (let i = 0; i < 3; i++) expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect(fn).toHaveBeenCalledTimes(4);
    expect(pipeline(name).circuitBreaker?.state).toBe('forced_closed');
  });

  it('reset closes an open breaker', async () => {
    const name = unique('reset');
    let healthy = false;
    const call = protect(
      name,
      () => {
        if (!healthy) throw new FlakyError('down');
        return 'ok';
      },
      { circuitBreaker: { failureThreshold: 1 } },
    );
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
    healthy = true;
    expect(breakers.reset(name)).toBe(true);
    expect(pipeline(name).circuitBreaker?.state).toBe('closed');
    expect(await call()).toBe('ok');
  });
});

describe('controls', () => {
  it('setKillSwitch turns every policy into pass-through and back', async () => {
    const name = unique('kill');
    const fn = vi.fn(failing);
    const fallback = vi.fn(() => 'fallback');
    const call = protect(name, fn, { circuitBreaker: { failureThreshold: 1 }, fallback });
    expect(await call()).toBe('fallback');
    expect(await call()).toBe('fallback'); // breaker open
    expect(fn).toHaveBeenCalledTimes(1);

    setKillSwitch(true, 'incident 42');
    expect(status()).toMatchObject({ killSwitch: true, controlReason: 'incident 42' });
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect(fn).toHaveBeenCalledTimes(2);

    setKillSwitch(false, 'resolved');
    expect(status()).toMatchObject({ killSwitch: false, controlReason: 'resolved' });
    expect(await call()).toBe('fallback');
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('setMode("observe") evaluates every policy but never rejects', async () => {
    const name = unique('observe');
    const fn = vi.fn(failing);
    const call = protect(name, fn, { circuitBreaker: { failureThreshold: 1 } });
    await rejectionOf(call());
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);

    setMode('observe', 'dry run');
    expect(status()).toMatchObject({ mode: 'observe', controlReason: 'dry run' });
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect(await rejectionOf(call())).toBeInstanceOf(FlakyError);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(pipeline(name).rejections).toEqual({ circuit_open: 3 });

    setMode('enforce', 'go live');
    expect(status().mode).toBe('enforce');
    expect(await rejectionOf(call())).toBeInstanceOf(CircuitOpenError);
  });

  it('observe mode lets calls past a full rate limit', async () => {
    start({ mode: 'observe' });
    const name = unique('observe-rate');
    const fn = vi.fn(() => 'ok');
    const call = protect(name, fn, { rateLimit: { limit: 1, per: '1h' } });
    expect(await call()).toBe('ok');
    expect(await call()).toBe('ok');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(pipeline(name).rejections).toEqual({ rate_limited: 1 });
  });
});

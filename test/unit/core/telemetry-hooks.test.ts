import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { baldurGlobal } from '../../../src/api/global-state';
import { protect } from '../../../src/index';
import { currentAttempt } from '../../../src/core/pipeline/pipeline';
import type { CallOutcome } from '../../../src/names/policies';
import { isolateGlobalState, unique } from '../api/helpers';

/**
 * The few things the pipeline exposes for telemetry: the resend ordinal of a
 * running retry, every measured duration, the policy behind a success, and —
 * for any AsyncLocalStorage user, OpenTelemetry included — the caller's async
 * context kept through timeouts and retries.
 */
describe('pipeline hooks used by telemetry', () => {
  isolateGlobalState();

  it('exposes the resend ordinal to synchronous code inside a retry, and only there', async () => {
    const seen: number[] = [];
    let calls = 0;
    const flaky = protect(
      unique('resend'),
      // Not async: the ordinal is read synchronously, as an instrumentation starting a span does.
      () => {
        seen.push(currentAttempt.resend);
        calls++;
        return calls < 3 ? Promise.reject(new Error('transient')) : Promise.resolve('ok');
      },
      { retry: { maxAttempts: 3, baseDelay: 1, jitter: 0, budget: false } },
    );
    await expect(flaky()).resolves.toBe('ok');
    expect(seen).toEqual([0, 1, 2]);
    expect(currentAttempt.resend).toBe(0);
  });

  it('hands every measured duration to the sink and records the policy behind a success', async () => {
    const state = baldurGlobal();
    const recorded: [string, CallOutcome][] = [];
    state.telemetry.measureDurations = true;
    state.telemetry.durationSink.current = (pipeline, outcome, durationMs) => {
      expect(durationMs).toBeGreaterThanOrEqual(0);
      recorded.push([pipeline, outcome]);
    };
    try {
      const name = unique('sink');
      let calls = 0;
      const flaky = protect(
        name,
        // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
        async () => {
          if (++calls === 1) throw new Error('transient');
          return 'ok';
        },
        { retry: { maxAttempts: 2, baseDelay: 1, jitter: 0, budget: false } },
      );
      await flaky();
      await flaky();
      expect(recorded).toEqual([
        [name, 'success'],
        [name, 'success'],
      ]);
      const stats = state.engine!.find(name)!.stats;
      expect(stats.successes).toBe(2);
      expect([...stats.successPolicies]).toEqual([['retry', 1]]);
      expect(stats.durations.get('success')?.count).toBe(2);
    } finally {
      state.telemetry.measureDurations = false;
      state.telemetry.durationSink.current = undefined;
    }
  });

  it('measures no duration while nothing reads them, and resumes when something does', async () => {
    const state = baldurGlobal();
    const slot = state.telemetry.durationSink;
    const recorded: CallOutcome[] = [];
    state.telemetry.measureDurations = true;
    slot.current = (_pipeline, outcome) => recorded.push(outcome);
    slot.measuring = false; // what telemetry does when no SDK is there to read them
    try {
      const name = unique('switch');
      const call = protect(name, (fail: boolean) =>
        fail ? Promise.reject(new Error('down')) : Promise.resolve('ok'),
      );
      await call(false);
      await call(true).catch(() => undefined);
      const stats = state.engine!.find(name)!.stats;
      expect(stats.successes).toBe(1);
      expect(stats.durations.size).toBe(0);
      expect(recorded).toEqual([]);
      slot.measuring = true; // an SDK appeared
      await call(false);
      await call(true).catch(() => undefined);
      expect(recorded).toEqual(['success', 'failure']);
      expect(stats.durations.get('success')?.count).toBe(1);
    } finally {
      state.telemetry.measureDurations = false;
      slot.current = undefined;
      slot.measuring = true;
    }
  });

  it('keeps the caller’s async context through an attempt timeout and its retry', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const name = unique('context');
    const hangsOnce = new Map<string, number>();
    const call = protect(
      name,
      (label: string) => {
        seen.push(`${label}:${als.getStore()}`);
        const n = (hangsOnce.get(label) ?? 0) + 1;
        hangsOnce.set(label, n);
        // The first attempt of each call never settles: only the deadline ends it.
        return n === 1 ? new Promise(() => {}) : Promise.resolve(als.getStore());
      },
      {
        timeout: 30,
        retry: { maxAttempts: 2, baseDelay: 1, jitter: 0, budget: false },
        circuitBreaker: false,
      },
    );
    // Call A arms the shared deadline timer of this duration; call B's deadline fires from it.
    const a = als.run('A', () => call('a'));
    const b = als.run('B', () => call('b'));
    await expect(a).resolves.toBe('A');
    await expect(b).resolves.toBe('B');
    expect(seen.sort()).toEqual(['a:A', 'a:A', 'b:B', 'b:B']);
  });
});

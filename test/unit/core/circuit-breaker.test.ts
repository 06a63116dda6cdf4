import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BreakerState } from '../../../src/names/policies';
import {
  CircuitBreaker,
  REJECTED,
} from '../../../src/core/policies/circuit-breaker/circuit-breaker';
import {
  CIRCUIT_BREAKER_DEFAULTS,
  DEFAULT_FORCED_STATE_TTL_MS,
  type CircuitBreakerOptions,
} from '../../../src/core/policies/circuit-breaker/options';
import {
  type OutcomeWindow,
  emptyOutcomeWindow,
  recordOutcome,
  resetOutcomes,
} from '../../../src/core/policies/circuit-breaker/outcome-window';
import { FakeClock } from '../../support/fake-clock';

type Transition = [from: BreakerState, to: BreakerState, reason: string];

/** A breaker on a fake clock that records every transition it reports. */
function harness(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock();
  const transitions: Transition[] = [];
  const options: CircuitBreakerOptions = { ...CIRCUIT_BREAKER_DEFAULTS, ...overrides };
  const breaker = new CircuitBreaker(options, clock, {
    breakerTransitioned: (from, to, reason) => transitions.push([from, to, reason]),
  });
  /** One whole call: acquire, then record. Returns false when the breaker rejected it. */
  const call = (failed: boolean, durationMs = 0): boolean => {
    const permit = breaker.tryAcquire();
    if (permit === REJECTED) return false;
    breaker.record(permit, failed, durationMs);
    return true;
  };
  const fail = (times = 1): void => {
    for (let i = 0; i < times; i++) call(true);
  };
  const succeed = (times = 1): void => {
    for (let i = 0; i < times; i++) call(false);
  };
  return { clock, breaker, transitions, call, fail, succeed, options };
}

type Harness = ReturnType<typeof harness>;

/** Options with only the trigger under test switched on. */
const ONLY_CONSECUTIVE = { failureThreshold: 3, failureRateThreshold: 0 };
const ONLY_RATE = { failureThreshold: 0, failureRateThreshold: 50 };

describe('CircuitBreaker transitions (table)', () => {
  const rows: {
    name: string;
    options: Partial<CircuitBreakerOptions>;
    run: (h: Harness) => void;
    state: BreakerState;
    transitions: Transition[];
  }[] = [
    {
      name: 'stays closed below the consecutive-failure threshold',
      options: ONLY_CONSECUTIVE,
      run: h => h.fail(2),
      state: 'closed',
      transitions: [],
    },
    {
      name: 'closed → open after failureThreshold consecutive failures',
      options: ONLY_CONSECUTIVE,
      run: h => h.fail(3),
      state: 'open',
      transitions: [['closed', 'open', 'consecutive_failures']],
    },
    {
      name: 'a success resets the consecutive-failure count',
      options: ONLY_CONSECUTIVE,
      run: h => {
        h.fail(2);
        h.succeed();
        h.fail(2);
      },
      state: 'closed',
      transitions: [],
    },
    {
      name: 'failure rate is not judged before minimumCalls (5 of 5 failed, minimum 10)',
      options: { ...ONLY_RATE, minimumCalls: 10, slidingWindowSize: 10 },
      run: h => h.fail(5),
      state: 'closed',
      transitions: [],
    },
    {
      name: 'closed → open by failure rate once minimumCalls are reached',
      options: { ...ONLY_RATE, minimumCalls: 10, slidingWindowSize: 10 },
      run: h => {
        h.succeed(5);
        h.fail(4); // 4 of 9: below the minimum anyway
        h.fail(); // 5 of 10 = 50 %
      },
      state: 'open',
      transitions: [['closed', 'open', 'failure_rate']],
    },
    {
      name: 'a rate already over the threshold opens on the call that reaches minimumCalls, even a success',
      options: { ...ONLY_RATE, minimumCalls: 10, slidingWindowSize: 10 },
      run: h => {
        for (let i = 0; i < 5; i++) {
          h.fail();
          h.succeed();
        }
      },
      state: 'open',
      transitions: [['closed', 'open', 'failure_rate']],
    },
    {
      name: 'the rate is over the count window only: old successes slide out',
      options: { ...ONLY_RATE, minimumCalls: 4, slidingWindowSize: 4 },
      run: h => {
        h.succeed(4);
        h.fail(); // [S S S F] 25 %
        h.fail(); // [S S F F] 50 % — over all six calls it would be 33 %
      },
      state: 'open',
      transitions: [['closed', 'open', 'failure_rate']],
    },
    {
      name: 'the rate is over the count window only: old failures slide out',
      options: { ...ONLY_RATE, failureRateThreshold: 75, minimumCalls: 4, slidingWindowSize: 4 },
      run: h => {
        h.fail(2); // [F F]
        h.succeed(2); // [F F S S] 50 %
        h.succeed(); // [F S S S]
        h.fail(); // [S S S F] 25 %: the first two failures are gone
        h.fail(); // [S S F F] 50 %
      },
      state: 'closed',
      transitions: [],
    },
    {
      name: 'closed → open by slow-call rate',
      options: {
        failureThreshold: 0,
        failureRateThreshold: 0,
        slowCallDurationMs: 100,
        slowCallRateThreshold: 50,
        minimumCalls: 4,
        slidingWindowSize: 4,
      },
      run: h => {
        h.call(false, 150);
        h.call(false, 10);
        h.call(false, 99);
        h.call(false, 100); // 2 of 4 slow (≥ 100 ms is slow)
      },
      state: 'open',
      transitions: [['closed', 'open', 'slow_call_rate']],
    },
    {
      name: 'a slow-call rate already over the threshold opens on the call reaching minimumCalls',
      options: {
        failureThreshold: 0,
        failureRateThreshold: 0,
        slowCallDurationMs: 100,
        slowCallRateThreshold: 50,
        minimumCalls: 4,
        slidingWindowSize: 10,
      },
      run: h => {
        h.call(false, 500);
        h.call(false, 500);
        h.call(false, 10);
        h.call(false, 10); // 2 of 4 slow, judged for the first time on a fast call
      },
      state: 'open',
      transitions: [['closed', 'open', 'slow_call_rate']],
    },
    {
      name: 'slow calls below the slow-call rate keep it closed',
      options: {
        failureThreshold: 0,
        failureRateThreshold: 0,
        slowCallDurationMs: 100,
        slowCallRateThreshold: 75,
        minimumCalls: 4,
        slidingWindowSize: 4,
      },
      run: h => {
        h.call(false, 150);
        h.call(false, 10);
        h.call(false, 150);
        h.call(false, 10);
        h.call(false, 150); // window [10 150 10 150]: 50 %
      },
      state: 'closed',
      transitions: [],
    },
    {
      name: 'slowCallDuration 0 turns the slow-call trigger off',
      options: {
        failureThreshold: 0,
        failureRateThreshold: 0,
        slowCallDurationMs: 0,
        minimumCalls: 2,
        slidingWindowSize: 2,
      },
      run: h => {
        h.call(false, 60_000);
        h.call(false, 60_000);
        h.call(false, 60_000);
      },
      state: 'closed',
      transitions: [],
    },
    {
      name: 'open → half_open lazily, on the first tryAcquire after recoveryTimeout',
      options: { ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 1_000 },
      run: h => {
        h.fail(3);
        h.clock.advance(999);
        expect(h.breaker.tryAcquire()).toBe(REJECTED);
        h.clock.advance(1);
        expect(h.breaker.state).toBe('open'); // no timers: nothing happens until someone asks
        expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
      },
      state: 'half_open',
      transitions: [
        ['closed', 'open', 'consecutive_failures'],
        ['open', 'half_open', 'recovery_timeout'],
      ],
    },
    {
      name: 'successThreshold successful probes close it',
      options: { ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 1_000, successThreshold: 2 },
      run: h => {
        h.fail(3);
        h.clock.advance(1_000);
        h.succeed();
        expect(h.breaker.state).toBe('half_open');
        h.succeed();
      },
      state: 'closed',
      transitions: [
        ['closed', 'open', 'consecutive_failures'],
        ['open', 'half_open', 'recovery_timeout'],
        ['half_open', 'closed', 'probes_succeeded'],
      ],
    },
    {
      name: 'one failed probe re-opens it',
      options: { ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 1_000, successThreshold: 2 },
      run: h => {
        h.fail(3);
        h.clock.advance(1_000);
        h.succeed();
        h.fail();
      },
      state: 'open',
      transitions: [
        ['closed', 'open', 'consecutive_failures'],
        ['open', 'half_open', 'recovery_timeout'],
        ['half_open', 'open', 'probe_failed'],
      ],
    },
    {
      name: 'reset() closes an open breaker',
      options: ONLY_CONSECUTIVE,
      run: h => {
        h.fail(3);
        h.breaker.reset();
      },
      state: 'closed',
      transitions: [
        ['closed', 'open', 'consecutive_failures'],
        ['open', 'closed', 'reset'],
      ],
    },
  ];

  for (const row of rows) {
    it(row.name, () => {
      const h = harness(row.options);
      row.run(h);
      expect(h.breaker.state).toBe(row.state);
      expect(h.transitions).toEqual(row.transitions);
    });
  }
});

describe('CircuitBreaker closed-state triggers (model)', () => {
  it('opens on exactly the call where a trigger is first met, for the reason of that trigger', () => {
    const config = fc.record({
      failureThreshold: fc.integer({ min: 0, max: 6 }),
      failureRateThreshold: fc.constantFrom(0, 25, 50, 80, 100),
      slidingWindowSize: fc.integer({ min: 1, max: 40 }),
      minimumCalls: fc.integer({ min: 1, max: 40 }),
      slowCallDurationMs: fc.constantFrom(0, 100),
      slowCallRateThreshold: fc.constantFrom(1, 50, 100),
    });
    fc.assert(
      fc.property(
        config,
        fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 120 }),
        (raw, calls) => {
          const options = {
            ...raw,
            minimumCalls: Math.min(raw.minimumCalls, raw.slidingWindowSize),
          };
          const h = harness(options);
          const last: [boolean, boolean][] = [];
          let consecutive = 0;
          for (const [failed, slowCall] of calls) {
            const slow = options.slowCallDurationMs > 0 && slowCall;
            h.call(failed, slowCall ? 100 : 0);
            last.push([failed, slow]);
            if (last.length > options.slidingWindowSize) last.shift();
            consecutive = failed ? consecutive + 1 : 0;
            const count = last.length;
            const failures = last.filter(([f]) => f).length;
            const slows = last.filter(([, s]) => s).length;
            let reason: string | undefined;
            if (failed && options.failureThreshold > 0 && consecutive >= options.failureThreshold)
              reason = 'consecutive_failures';
            else if (count >= options.minimumCalls) {
              if (
                options.failureRateThreshold > 0 &&
                failures * 100 >= options.failureRateThreshold * count
              )
                reason = 'failure_rate';
              else if (
                options.slowCallDurationMs > 0 &&
                slows * 100 >= options.slowCallRateThreshold * count
              )
                reason = 'slow_call_rate';
            }
            if (reason !== undefined) {
              expect(h.transitions).toEqual([['closed', 'open', reason]]);
              return;
            }
            expect(h.breaker.state).toBe('closed');
          }
        },
      ),
      { seed: 4242, numRuns: 500 },
    );
  });
});

describe('CircuitBreaker open and half-open', () => {
  it('rejects while open and reports the remaining recovery time', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 30_000 });
    h.fail(3);
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.breaker.retryAfterMs()).toBe(30_000);
    h.clock.advance(12_345);
    expect(h.breaker.retryAfterMs()).toBe(30_000 - 12_345);
    expect(h.breaker.snapshot().remainingMs).toBe(30_000 - 12_345);
  });

  it('retryAfterMs() is undefined when closed or half-open', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 100 });
    expect(h.breaker.retryAfterMs()).toBeUndefined();
    h.fail(3);
    h.clock.advance(100);
    h.breaker.tryAcquire();
    expect(h.breaker.state).toBe('half_open');
    expect(h.breaker.retryAfterMs()).toBeUndefined();
  });

  it('admits at most halfOpenMaxCalls concurrent probes', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 100, halfOpenMaxCalls: 2 });
    h.fail(3);
    h.clock.advance(100);
    const first = h.breaker.tryAcquire();
    const second = h.breaker.tryAcquire();
    expect(first).not.toBe(REJECTED);
    expect(second).not.toBe(REJECTED);
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.breaker.snapshot().halfOpenInFlight).toBe(2);
    // Rejected while half-open: no "retry after" — a slot frees when a probe ends.
    expect(h.breaker.retryAfterMs()).toBeUndefined();
  });

  it('a finished successful probe frees its slot for the next probe', () => {
    const h = harness({
      ...ONLY_CONSECUTIVE,
      recoveryTimeoutMs: 100,
      halfOpenMaxCalls: 1,
      successThreshold: 3,
    });
    h.fail(3);
    h.clock.advance(100);
    const probe = h.breaker.tryAcquire();
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    h.breaker.record(probe, false, 0);
    expect(h.breaker.state).toBe('half_open');
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
  });

  it('release() of a neutral outcome frees a probe slot without counting', () => {
    const h = harness({
      ...ONLY_CONSECUTIVE,
      recoveryTimeoutMs: 100,
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    });
    h.fail(3);
    h.clock.advance(100);
    const probe = h.breaker.tryAcquire();
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    h.breaker.release(probe);
    expect(h.breaker.state).toBe('half_open'); // a neutral outcome neither closes nor re-opens
    expect(h.breaker.snapshot().halfOpenInFlight).toBe(0);
    const next = h.breaker.tryAcquire();
    expect(next).not.toBe(REJECTED);
    h.breaker.record(next, false, 0);
    expect(h.breaker.state).toBe('closed');
  });

  it('a failed probe restarts the recovery timeout from the moment it failed', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 1_000 });
    h.fail(3);
    h.clock.advance(1_500);
    const probe = h.breaker.tryAcquire();
    h.clock.advance(200);
    h.breaker.record(probe, true, 200);
    expect(h.breaker.state).toBe('open');
    expect(h.breaker.retryAfterMs()).toBe(1_000);
    h.clock.advance(999);
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    h.clock.advance(1);
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
    expect(h.breaker.state).toBe('half_open');
  });

  it('an outcome with a permit from an older generation does not move the state', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 100, successThreshold: 1 });
    const stale = h.breaker.tryAcquire(); // admitted while closed
    h.fail(3);
    expect(h.breaker.state).toBe('open');
    h.breaker.record(stale, false, 0); // the slow call finally succeeds: must not close it
    expect(h.breaker.state).toBe('open');
    h.clock.advance(100);
    const probe = h.breaker.tryAcquire();
    expect(h.breaker.state).toBe('half_open');
    h.breaker.record(stale, true, 0); // nor may an old failure re-open it
    h.breaker.release(stale); // nor free a probe slot it never held
    expect(h.breaker.state).toBe('half_open');
    expect(h.breaker.snapshot().halfOpenInFlight).toBe(1);
    h.breaker.record(probe, false, 0);
    expect(h.breaker.state).toBe('closed');
  });

  it('a stale failure recorded after closing does not count towards the new window', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, failureThreshold: 2, recoveryTimeoutMs: 100 });
    h.fail(2);
    h.clock.advance(100);
    const probe = h.breaker.tryAcquire();
    const probe2 = h.breaker.tryAcquire();
    h.breaker.record(probe, false, 0);
    h.breaker.record(probe2, false, 0);
    expect(h.breaker.state).toBe('closed');
    const closedPermit = h.breaker.tryAcquire();
    h.breaker.record(probe, true, 0); // from the half-open generation
    h.breaker.record(closedPermit, true, 0);
    expect(h.breaker.state).toBe('closed');
    expect(h.breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('every transition clears the window', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 100, successThreshold: 1 });
    h.fail(2);
    h.succeed();
    expect(h.breaker.snapshot().bufferedCalls).toBe(3);
    h.fail(3);
    h.clock.advance(100);
    h.succeed();
    expect(h.breaker.state).toBe('closed');
    const snapshot = h.breaker.snapshot();
    expect(snapshot.bufferedCalls).toBe(0);
    expect(snapshot.consecutiveFailures).toBe(0);
  });
});

describe('CircuitBreaker forced states', () => {
  it('forced_open rejects for the default 90 minutes, then reverts to closed on tryAcquire', () => {
    const h = harness();
    h.breaker.forceOpen();
    expect(h.breaker.state).toBe('forced_open');
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.breaker.retryAfterMs()).toBe(DEFAULT_FORCED_STATE_TTL_MS);
    expect(DEFAULT_FORCED_STATE_TTL_MS).toBe(90 * 60 * 1000);
    h.clock.advance(DEFAULT_FORCED_STATE_TTL_MS - 1);
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    h.clock.advance(1);
    const permit = h.breaker.tryAcquire();
    expect(permit).not.toBe(REJECTED);
    expect(h.breaker.state).toBe('closed');
    expect(h.transitions).toEqual([
      ['closed', 'forced_open', 'forced'],
      ['forced_open', 'closed', 'force_expired'],
    ]);
    // The permit handed out on expiry belongs to the new closed generation: it counts.
    h.breaker.record(permit, true, 0);
    expect(h.breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('forced_closed with a custom ttl admits everything and counts nothing', () => {
    const h = harness({ ...ONLY_CONSECUTIVE });
    h.breaker.forceClose(5_000);
    h.fail(10);
    expect(h.breaker.state).toBe('forced_closed');
    expect(h.breaker.snapshot().remainingMs).toBe(5_000);
    expect(h.breaker.snapshot().bufferedCalls).toBe(0);
    h.clock.advance(5_000);
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
    expect(h.breaker.state).toBe('closed');
    h.fail(3);
    expect(h.breaker.state).toBe('open');
  });

  it('a forced state expires on snapshot() without any call', () => {
    const h = harness();
    h.breaker.forceOpen(1_000);
    h.clock.advance(999);
    expect(h.breaker.snapshot().state).toBe('forced_open');
    h.clock.advance(1);
    expect(h.breaker.snapshot().state).toBe('closed');
    expect(h.transitions.at(-1)).toEqual(['forced_open', 'closed', 'force_expired']);
  });

  it('a forced state expires on refresh()', () => {
    const h = harness();
    h.breaker.forceClose(2_000);
    h.clock.advance(2_000);
    expect(h.breaker.state).toBe('forced_closed'); // lazily
    h.breaker.refresh();
    expect(h.breaker.state).toBe('closed');
    h.breaker.refresh();
    expect(h.transitions).toEqual([
      ['closed', 'forced_closed', 'forced'],
      ['forced_closed', 'closed', 'force_expired'],
    ]);
  });

  it('refresh() does not move an open breaker to half-open (that waits for a caller)', () => {
    const h = harness({ ...ONLY_CONSECUTIVE, recoveryTimeoutMs: 100 });
    h.fail(3);
    h.clock.advance(10_000);
    h.breaker.refresh();
    expect(h.breaker.snapshot().state).toBe('open');
    expect(h.breaker.snapshot().remainingMs).toBe(0);
  });

  it('forcing again restarts the ttl and is reported', () => {
    const h = harness();
    h.breaker.forceOpen(1_000);
    h.clock.advance(900);
    h.breaker.forceOpen(1_000);
    h.clock.advance(900);
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.transitions).toEqual([
      ['closed', 'forced_open', 'forced'],
      ['forced_open', 'forced_open', 'forced'],
    ]);
  });

  it('reset() ends a forced state', () => {
    const h = harness();
    h.breaker.forceOpen();
    h.breaker.reset();
    expect(h.breaker.state).toBe('closed');
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
  });
});

describe('CircuitBreaker disabled', () => {
  it('never rejects and records nothing', () => {
    const h = harness({ enabled: false, failureThreshold: 1, minimumCalls: 1 });
    expect(h.breaker.state).toBe('disabled');
    for (let i = 0; i < 50; i++) expect(h.call(true)).toBe(true);
    expect(h.breaker.state).toBe('disabled');
    const snapshot = h.breaker.snapshot();
    expect(snapshot.bufferedCalls).toBe(0);
    expect(snapshot.consecutiveFailures).toBe(0);
    expect(snapshot.failureRate).toBeUndefined();
    expect(h.breaker.retryAfterMs()).toBeUndefined();
    expect(h.transitions).toEqual([]);
  });

  it('reset() keeps a disabled breaker disabled', () => {
    const h = harness({ enabled: false });
    h.breaker.reset();
    expect(h.breaker.state).toBe('disabled');
  });
});

describe('CircuitBreaker adopt()', () => {
  it('adopts a remote open state with its remaining time', () => {
    const h = harness({ recoveryTimeoutMs: 30_000 });
    h.breaker.adopt('open', 5_000);
    expect(h.breaker.state).toBe('open');
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.breaker.retryAfterMs()).toBe(5_000);
    h.clock.advance(5_000);
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
    expect(h.breaker.state).toBe('half_open');
    expect(h.transitions).toEqual([
      ['closed', 'open', 'remote'],
      ['open', 'half_open', 'recovery_timeout'],
    ]);
  });

  it('re-adopting open updates the deadline without a transition', () => {
    const h = harness();
    h.breaker.adopt('open', 5_000);
    h.breaker.adopt('open', 8_000);
    expect(h.breaker.retryAfterMs()).toBe(8_000);
    expect(h.transitions).toHaveLength(1);
  });

  it('adopting the current closed state is a no-op', () => {
    const h = harness({ ...ONLY_CONSECUTIVE });
    h.fail(2);
    h.breaker.adopt('closed', 0);
    expect(h.transitions).toEqual([]);
    h.fail(); // the local window was kept
    expect(h.breaker.state).toBe('open');
  });

  it('adopts remote forced and closed states with a custom reason', () => {
    const h = harness({ ...ONLY_CONSECUTIVE });
    h.breaker.adopt('forced_open', 60_000, 'peer');
    expect(h.breaker.tryAcquire()).toBe(REJECTED);
    expect(h.breaker.retryAfterMs()).toBe(60_000);
    h.breaker.adopt('closed', 0, 'peer');
    expect(h.breaker.tryAcquire()).not.toBe(REJECTED);
    h.breaker.adopt('half_open', 0);
    expect(h.breaker.state).toBe('half_open');
    expect(h.transitions).toEqual([
      ['closed', 'forced_open', 'peer'],
      ['forced_open', 'closed', 'peer'],
      ['closed', 'half_open', 'remote'],
    ]);
  });

  it('an adopted forced state expires like a local one', () => {
    const h = harness();
    h.breaker.adopt('forced_closed', 1_000);
    h.clock.advance(1_000);
    expect(h.breaker.snapshot().state).toBe('closed');
  });
});

describe('CircuitBreaker transition listener', () => {
  it('is called once per transition, with (from, to, reason), across a full cycle', () => {
    const h = harness({
      ...ONLY_CONSECUTIVE,
      recoveryTimeoutMs: 100,
      halfOpenMaxCalls: 2,
      successThreshold: 2,
    });
    h.fail(3);
    h.fail(5); // rejected: no more transitions
    h.clock.advance(100);
    h.breaker.tryAcquire();
    h.breaker.tryAcquire();
    h.breaker.tryAcquire(); // rejected, still half-open
    h.clock.advance(1_000);
    h.breaker.snapshot();
    h.breaker.refresh();
    expect(h.transitions).toEqual([
      ['closed', 'open', 'consecutive_failures'],
      ['open', 'half_open', 'recovery_timeout'],
    ]);
  });

  it('the snapshot reports rates only once minimumCalls are buffered', () => {
    const h = harness({ ...ONLY_RATE, failureRateThreshold: 90, minimumCalls: 4 });
    h.fail();
    h.succeed(2);
    expect(h.breaker.snapshot().failureRate).toBeUndefined();
    h.succeed();
    expect(h.breaker.snapshot()).toMatchObject({
      state: 'closed',
      failureRate: 25,
      slowCallRate: undefined,
      bufferedCalls: 4,
      consecutiveFailures: 0,
      halfOpenInFlight: 0,
      remainingMs: undefined,
    });
  });
});

describe('OutcomeWindow', () => {
  const totals = (window: OutcomeWindow): number[] => [
    window.windowCount,
    window.windowFailures,
    window.windowSlows,
  ];

  /** The obvious model: an array of the last `size` outcomes. */
  function model(size: number, outcomes: readonly [boolean, boolean][]) {
    const last = outcomes.slice(-size);
    return {
      count: last.length,
      failures: last.filter(([failed]) => failed).length,
      slows: last.filter(([, slow]) => slow).length,
    };
  }

  it('evicts the oldest outcome once the window wraps (sizes around the 30-bit word)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 29, 30, 31, 59, 60, 61, 100),
        fc.array(fc.tuple(fc.boolean(), fc.boolean()), { maxLength: 400 }),
        (size, outcomes) => {
          const window = emptyOutcomeWindow();
          const seen: [boolean, boolean][] = [];
          for (const outcome of outcomes) {
            recordOutcome(window, size, outcome[0], outcome[1]);
            seen.push(outcome);
            const expected = model(size, seen);
            if (
              window.windowCount !== expected.count ||
              window.windowFailures !== expected.failures ||
              window.windowSlows !== expected.slows
            )
              return false;
          }
          return true;
        },
      ),
      { seed: 20260101, numRuns: 300 },
    );
  });

  it('forgets a failure exactly `size` calls later', () => {
    const window = emptyOutcomeWindow();
    recordOutcome(window, 31, true, true);
    for (let i = 0; i < 30; i++) recordOutcome(window, 31, false, false);
    expect(totals(window)).toEqual([31, 1, 1]);
    recordOutcome(window, 31, false, false);
    expect(totals(window)).toEqual([31, 0, 0]);
  });

  it('resetOutcomes() empties it', () => {
    const window = emptyOutcomeWindow();
    for (let i = 0; i < 7; i++) recordOutcome(window, 5, true, true);
    resetOutcomes(window);
    expect(totals(window)).toEqual([0, 0, 0]);
    recordOutcome(window, 5, false, false);
    expect(totals(window)).toEqual([1, 0, 0]);
  });
});

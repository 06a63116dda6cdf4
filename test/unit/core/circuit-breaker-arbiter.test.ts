import { describe, expect, it } from 'vitest';
import type { BreakerState } from '../../../src/names/policies';
import {
  CircuitBreaker,
  REJECTED,
  type ProbeArbiter,
} from '../../../src/core/policies/circuit-breaker/circuit-breaker';
import {
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreakerOptions,
} from '../../../src/core/policies/circuit-breaker/options';
import { FakeClock } from '../../support/fake-clock';

/** An arbiter that records what the breaker asks and grants nothing unless told. */
class RecordingArbiter implements ProbeArbiter {
  readonly requests: number[] = [];
  readonly successes: number[] = [];
  grantOnRequest = 0;
  breaker!: CircuitBreaker;

  requestProbe(generation: number): void {
    this.requests.push(generation);
    if (this.grantOnRequest > 0) this.breaker.grantProbes(generation, this.grantOnRequest);
  }

  probeSucceeded(generation: number): void {
    this.successes.push(generation);
  }
}

function setup(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = new FakeClock();
  const transitions: [BreakerState, BreakerState, string][] = [];
  const breaker = new CircuitBreaker(
    {
      ...CIRCUIT_BREAKER_DEFAULTS,
      failureThreshold: 2,
      failureRateThreshold: 0,
      recoveryTimeoutMs: 1_000,
      halfOpenMaxCalls: 2,
      successThreshold: 2,
      ...overrides,
    },
    clock,
    { breakerTransitioned: (from, to, reason) => transitions.push([from, to, reason]) },
  );
  const arbiter = new RecordingArbiter();
  arbiter.breaker = breaker;
  breaker.useProbeArbiter(arbiter);
  /** Open the breaker and let its recovery timeout pass. */
  const toHalfOpen = (): void => {
    for (let i = 0; i < 2; i++) breaker.record(breaker.tryAcquire(), true, 0);
    clock.advance(1_000);
  };
  return { clock, breaker, arbiter, transitions, toHalfOpen };
}

describe('CircuitBreaker with a probe arbiter', () => {
  it('leaves the closed path alone: no arbiter call, permits as before', () => {
    const { breaker, arbiter } = setup();
    const permit = breaker.tryAcquire();
    expect(permit).not.toBe(REJECTED);
    breaker.record(permit, false, 0);
    expect(arbiter.requests).toEqual([]);
    expect(breaker.state).toBe('closed');
  });

  it('fails fast in half-open without a granted probe, and asks for one', () => {
    const { breaker, arbiter, toHalfOpen } = setup();
    toHalfOpen();
    expect(breaker.tryAcquire()).toBe(REJECTED);
    expect(breaker.state).toBe('half_open');
    expect(arbiter.requests).toEqual([breaker.currentGeneration]);
    expect(breaker.tryAcquire()).toBe(REJECTED);
    expect(arbiter.requests).toHaveLength(2); // the arbiter dedupes, the breaker just asks
  });

  it('admits exactly the probes granted, then fails fast again', () => {
    const { breaker, toHalfOpen } = setup({ halfOpenMaxCalls: 5 });
    toHalfOpen();
    breaker.tryAcquire(); // → half-open
    expect(breaker.grantProbes(breaker.currentGeneration, 2)).toBe(true);
    expect(breaker.tryAcquire()).not.toBe(REJECTED);
    expect(breaker.tryAcquire()).not.toBe(REJECTED);
    expect(breaker.tryAcquire()).toBe(REJECTED);
    expect(breaker.snapshot().halfOpenInFlight).toBe(2);
  });

  it('admits the call at once when the arbiter grants synchronously (degraded local mode)', () => {
    const { breaker, arbiter, toHalfOpen } = setup();
    arbiter.grantOnRequest = 1;
    toHalfOpen();
    expect(breaker.tryAcquire()).not.toBe(REJECTED);
  });

  it('reports successes to the arbiter and closes only when told', () => {
    const { breaker, arbiter, transitions, toHalfOpen } = setup();
    toHalfOpen();
    breaker.tryAcquire();
    const generation = breaker.currentGeneration;
    breaker.grantProbes(generation, 2);
    const a = breaker.tryAcquire();
    const b = breaker.tryAcquire();
    breaker.record(a, false, 0);
    breaker.record(b, false, 0);
    expect(arbiter.successes).toEqual([generation, generation]);
    expect(breaker.state).toBe('half_open'); // successThreshold reached locally, but the arbiter decides
    expect(breaker.closeAfterProbes(generation)).toBe(true);
    expect(breaker.state).toBe('closed');
    expect(transitions.at(-1)).toEqual(['half_open', 'closed', 'probes_succeeded']);
  });

  it('re-opens at once on a failed probe', () => {
    const { breaker, toHalfOpen } = setup();
    toHalfOpen();
    breaker.tryAcquire();
    breaker.grantProbes(breaker.currentGeneration, 1);
    breaker.record(breaker.tryAcquire(), true, 0);
    expect(breaker.state).toBe('open');
  });

  it('ignores grants, revocations and closes from an older generation', () => {
    const { breaker, toHalfOpen } = setup();
    toHalfOpen();
    breaker.tryAcquire();
    const old = breaker.currentGeneration;
    breaker.grantProbes(old, 1);
    breaker.record(breaker.tryAcquire(), true, 0); // re-opened: a new generation
    expect(breaker.grantProbes(old, 3)).toBe(false);
    expect(breaker.revokeProbes(old)).toBe(0);
    expect(breaker.closeAfterProbes(old)).toBe(false);
    expect(breaker.state).toBe('open');
  });

  it('grants nothing outside half-open', () => {
    const { breaker } = setup();
    expect(breaker.grantProbes(breaker.currentGeneration, 1)).toBe(false);
    expect(breaker.closeAfterProbes(breaker.currentGeneration)).toBe(false);
  });

  it('revokes unused grants', () => {
    const { breaker, toHalfOpen } = setup();
    toHalfOpen();
    breaker.tryAcquire();
    const generation = breaker.currentGeneration;
    breaker.grantProbes(generation, 3);
    breaker.tryAcquire();
    expect(breaker.revokeProbes(generation)).toBe(2);
    expect(breaker.tryAcquire()).toBe(REJECTED);
  });

  it('a transition drops what was granted', () => {
    const { breaker, toHalfOpen } = setup();
    toHalfOpen();
    breaker.tryAcquire();
    breaker.grantProbes(breaker.currentGeneration, 2);
    breaker.adopt('open', 1_000);
    breaker.adopt('half_open', 0);
    expect(breaker.tryAcquire()).toBe(REJECTED);
  });

  it('without an arbiter again, admits halfOpenMaxCalls locally', () => {
    const { breaker, toHalfOpen } = setup();
    breaker.useProbeArbiter(undefined);
    toHalfOpen();
    expect(breaker.tryAcquire()).not.toBe(REJECTED);
    expect(breaker.tryAcquire()).not.toBe(REJECTED);
    expect(breaker.tryAcquire()).toBe(REJECTED);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PolicyOptions } from '../../../src/config/schema';
import { BaldurError } from '../../../src/core/errors';
import { NOT_RETRY_SAFE_CALL, RETRY_SAFE_CALL } from '../../../src/core/pipeline/options';
import {
  CircuitBreaker,
  REJECTED,
} from '../../../src/core/policies/circuit-breaker/circuit-breaker';
import { CIRCUIT_BREAKER_DEFAULTS } from '../../../src/core/policies/circuit-breaker/options';
import { Cooldown } from '../../../src/core/policies/cooldown/cooldown';
import { FakeClock } from '../../support/fake-clock';
import {
  after,
  deferred,
  fail,
  harness,
  ok,
  scripted,
  tooManyRequests,
  type Step,
} from './pipeline-harness';

const SEED = 20260101;

describe('half-open probes (property)', () => {
  type Op =
    | { kind: 'acquire' }
    | { kind: 'finish'; index: number; how: 'success' | 'failure' | 'neutral' }
    | { kind: 'advance'; ms: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'acquire' as const }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('finish' as const),
        index: fc.nat(20),
        how: fc.constantFrom('success' as const, 'failure' as const, 'neutral' as const),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.integer({ min: 1, max: 300 }),
      }),
    },
  );

  it('never more than halfOpenMaxCalls concurrent probes, for any interleaving of the breaker API', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(op, { maxLength: 200 }),
        (halfOpenMaxCalls, successThreshold, ops) => {
          const clock = new FakeClock();
          let transitions = 0;
          const breaker = new CircuitBreaker(
            {
              ...CIRCUIT_BREAKER_DEFAULTS,
              failureThreshold: 2,
              failureRateThreshold: 0,
              recoveryTimeoutMs: 100,
              halfOpenMaxCalls,
              successThreshold,
            },
            clock,
            { breakerTransitioned: () => transitions++ },
          );
          // Outstanding permits, tagged with the transition count when admitted half-open.
          const outstanding: { permit: number; halfOpenPeriod: number | undefined }[] = [];
          for (const o of ops) {
            if (o.kind === 'acquire') {
              const permit = breaker.tryAcquire();
              if (permit !== REJECTED) {
                outstanding.push({
                  permit,
                  halfOpenPeriod: breaker.state === 'half_open' ? transitions : undefined,
                });
              }
            } else if (o.kind === 'finish' && outstanding.length > 0) {
              const [done] = outstanding.splice(o.index % outstanding.length, 1);
              if (o.how === 'neutral') breaker.release(done!.permit);
              else breaker.record(done!.permit, o.how === 'failure', 0);
            } else if (o.kind === 'advance') {
              clock.advance(o.ms);
            }
            if (breaker.state === 'half_open') {
              const probes = outstanding.filter(p => p.halfOpenPeriod === transitions).length;
              expect(probes).toBeLessThanOrEqual(halfOpenMaxCalls);
              expect(breaker.snapshot().halfOpenInFlight).toBe(probes);
            }
          }
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('never more than halfOpenMaxCalls probes reach the dependency through the pipeline', async () => {
    type CallOp =
      | { kind: 'call' }
      | { kind: 'settle'; index: number; failed: boolean }
      | { kind: 'advance'; ms: number };
    const callOp: fc.Arbitrary<CallOp> = fc.oneof(
      { weight: 3, arbitrary: fc.constant({ kind: 'call' as const }) },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('settle' as const),
          index: fc.nat(20),
          failed: fc.boolean(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('advance' as const),
          ms: fc.integer({ min: 1, max: 200 }),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(callOp, { maxLength: 80 }),
        async (max, ops) => {
          const h = harness({
            circuitBreaker: {
              failureThreshold: 1,
              failureRateThreshold: 0,
              recoveryTimeout: 100,
              halfOpenMaxCalls: max,
              successThreshold: 2,
            },
          });
          let transitions = 0;
          let mostProbes = 0;
          h.bus.on('circuit_breaker.state_change', () => transitions++);
          const inFlight: {
            period: number | undefined;
            resolve: () => void;
            reject: (e: Error) => void;
          }[] = [];
          const fn = (): Promise<unknown> =>
            new Promise((resolve, reject) => {
              const period = h.pipeline.breaker!.state === 'half_open' ? transitions : undefined;
              inFlight.push({ period, resolve: () => resolve('ok'), reject });
              const probes = inFlight.filter(
                c => c.period !== undefined && c.period === transitions,
              );
              mostProbes = Math.max(mostProbes, probes.length);
            });
          for (const o of ops) {
            if (o.kind === 'call') h.call(fn);
            else if (o.kind === 'settle' && inFlight.length > 0) {
              const [c] = inFlight.splice(o.index % inFlight.length, 1);
              if (o.failed) c!.reject(new Error('probe failed'));
              else c!.resolve();
            } else if (o.kind === 'advance') await h.advance(o.ms);
            await h.flush();
          }
          // (Asserted here: an expect() inside the callee would only fail that call.)
          expect(mostProbes).toBeLessThanOrEqual(max);
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });
});

/** Outcomes a dependency may produce, Retry-After hints and aborts included. */
const outcomeStep: fc.Arbitrary<Step> = fc.oneof(
  fc.constant(ok('fine')),
  fc.constant(fail(new Error('boom'))),
  fc.constant(fail(tooManyRequests('2'))),
  fc.constant(fail(tooManyRequests('1', 503))),
  fc.constant(ok(new Response(null, { status: 503, headers: { 'retry-after': '1' } }))),
  fc.constant(fail(new DOMException('stop', 'AbortError'))),
  fc.constant(after(30, ok('slow'))),
  fc.constant(after(30, fail(new Error('slow boom')))),
);

describe('observe mode (property)', () => {
  it('never rejects, whatever the policies and outcomes', async () => {
    const policy: fc.Arbitrary<PolicyOptions> = fc.record({
      circuitBreaker: fc.constantFrom(
        { failureThreshold: 1, recoveryTimeout: 1_000, halfOpenMaxCalls: 1 } as const,
        {
          failureThreshold: 0,
          failureRateThreshold: 10,
          minimumCalls: 2,
          slidingWindowSize: 4,
        } as const,
        false as const,
      ),
      retry: fc.constantFrom(
        { maxAttempts: 3, backoff: 'constant', baseDelay: 5, jitter: 0 } as const,
        false as const,
      ),
      rateLimit: fc.constantFrom({ limit: 1, per: 10_000 } as const, false as const),
      bulkhead: fc.constantFrom(
        { maxConcurrent: 1, maxQueue: 0 } as const,
        { maxConcurrent: 1, maxQueue: 1, queueTimeout: 10 } as const,
        false as const,
      ),
      cooldown: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        policy,
        fc.boolean(),
        fc.array(fc.array(outcomeStep, { minLength: 1, maxLength: 3 }), {
          minLength: 1,
          maxLength: 12,
        }),
        async (p, forceOpen, scripts) => {
          const h = harness(p, {
            extras: {
              idempotency: {
                key: () => 'same-key',
                ttlMs: 60_000,
                executionTtlMs: 60_000,
                maxResultBytes: 100,
              },
            },
          });
          h.controls.observe = true;
          if (forceOpen) h.pipeline.breaker?.forceOpen();
          // Concurrent calls, so bulkheads and idempotency keys conflict too.
          const calls = scripts.map(steps => {
            const s = scripted(h.clock, steps);
            return { s, call: h.call(s.fn) };
          });
          await h.advance(5_000);
          for (const { call } of calls) {
            expect(call.settled).toBe(true);
            // The dependency's own answer (or a replayed idempotent result), never a rejection.
            expect(call.error).not.toBeInstanceOf(BaldurError);
          }
          expect(h.ofType('call.rejected').every(e => e.observed)).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('attempts (property)', () => {
  it('never exceed maxAttempts, and are exactly one when the call is not retry-safe', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(
          'exponential' as const,
          'linear' as const,
          'constant' as const,
          'decorrelated' as const,
        ),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.tuple(fc.boolean(), fc.array(outcomeStep, { minLength: 1, maxLength: 8 })), {
          minLength: 1,
          maxLength: 6,
        }),
        async (maxAttempts, backoff, breaker, timeout, calls) => {
          const h = harness({
            retry: {
              maxAttempts,
              backoff,
              baseDelay: 10,
              maxDelay: 3_000,
              jitter: 0.5,
              budget: false,
            },
            circuitBreaker: breaker ? { failureThreshold: 4, recoveryTimeout: 50 } : false,
            cooldown: false,
            ...(timeout ? { timeout: 20 } : {}),
          });
          for (const [retrySafe, steps] of calls) {
            const s = scripted(h.clock, steps);
            const call = h.call(s.fn, [], retrySafe ? RETRY_SAFE_CALL : NOT_RETRY_SAFE_CALL);
            await h.advance(60_000);
            expect(call.settled).toBe(true);
            expect(s.count).toBeLessThanOrEqual(retrySafe ? maxAttempts : 1);
          }
          for (const e of h.eventful()) expect(e.attempts).toBeLessThanOrEqual(maxAttempts);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('cooldowns (property)', () => {
  it('Cooldown.extendTo never moves the deadline earlier', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 100_000 })),
          {
            maxLength: 50,
          },
        ),
        steps => {
          const cooldown = new Cooldown();
          let now = 0;
          let until = 0;
          for (const [advance, hint] of steps) {
            now += advance;
            cooldown.extendTo(now + hint);
            until = Math.max(until, now + hint);
            expect(cooldown.remainingMs(now)).toBe(Math.max(0, until - now));
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a pipeline’s cooldown never shrinks, whatever hints arrive', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 30 })), {
          minLength: 1,
          maxLength: 25,
        }),
        async steps => {
          const h = harness({ cooldown: true });
          // Requests already in flight when the first 429 arrives keep reporting back, with any hint.
          const pending = deferred();
          for (let i = 0; i < steps.length; i++) h.call(pending.fn);
          await h.flush();
          let previous = 0;
          for (const [i, [advance, hintSeconds]] of steps.entries()) {
            await h.advance(advance);
            const floor = Math.max(0, previous - advance);
            pending.calls[i]!.reject(tooManyRequests(String(hintSeconds)));
            await h.flush();
            const remaining = h.pipeline.status().cooldownRemainingMs;
            expect(remaining).toBe(Math.max(floor, hintSeconds * 1_000));
            previous = remaining;
          }
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

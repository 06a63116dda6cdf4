import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GcraLimiter, NO_PERMIT } from '../../../src/core/policies/rate-limit/gcra';
import type { RateLimitOptions } from '../../../src/core/policies/rate-limit/options';
import { gcraTake } from '../../../src/store/gcra-take';

const limiter = (options: Partial<RateLimitOptions> & { limit: number }) =>
  new GcraLimiter({ perMs: 1_000, burst: options.limit, maxWaitMs: 0, ...options });

/** Try `n` permits at `nowMs`; returns how many were granted at once. */
function take(l: GcraLimiter, nowMs: number, n: number): number {
  let granted = 0;
  for (let i = 0; i < n; i++) if (l.acquire(nowMs) === 0) granted++;
  return granted;
}

describe('GcraLimiter', () => {
  it('allows a burst, then the steady rate', () => {
    const l = limiter({ limit: 10, burst: 5 }); // one permit per 100 ms
    expect(take(l, 0, 20)).toBe(5);
    expect(l.acquire(99)).toBe(NO_PERMIT);
    expect(l.acquire(100)).toBe(0);
    expect(l.acquire(150)).toBe(NO_PERMIT);
    expect(l.acquire(200)).toBe(0);
    expect(take(l, 1_000, 100)).toBe(5); // 800 ms quiet: the bucket is full again, not fuller
  });

  it('retryAfterMs says when the next permit is due', () => {
    const l = limiter({ limit: 4, burst: 2 }); // 250 ms apart
    take(l, 0, 2);
    expect(l.acquire(10)).toBe(NO_PERMIT);
    expect(l.retryAfterMs).toBe(240);
    expect(l.acquire(250)).toBe(0);
    expect(l.acquire(300)).toBe(NO_PERMIT);
    expect(l.retryAfterMs).toBe(200);
  });

  it('with maxWaitMs, reserves a permit and returns how long to wait for it', () => {
    const l = limiter({ limit: 10, burst: 1, maxWaitMs: 250 });
    expect(l.acquire(0)).toBe(0);
    expect(l.acquire(0)).toBe(100);
    expect(l.acquire(0)).toBe(200);
    expect(l.acquire(0)).toBe(NO_PERMIT); // would be 300 ms
    expect(l.retryAfterMs).toBe(300);
    // A rejection reserves nothing: at 50 ms the next reservation is still 250 ms away.
    expect(l.acquire(50)).toBe(250);
  });

  it('available() counts the permits usable right now', () => {
    const l = limiter({ limit: 10, burst: 5 });
    expect(l.available(0)).toBe(5);
    take(l, 0, 3);
    expect(l.available(0)).toBe(2);
    expect(l.available(200)).toBe(4);
    expect(l.available(10_000)).toBe(5);
  });

  it('admits limit × time / per + burst (±1) over a long simulated run (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 2, max: 50 }),
        fc.double({ min: 0.1, max: 1, noNaN: true }),
        (limit, perMs, burst, stepShare) => {
          // A client that comes back before the bucket overflows (it banks up to `burst`
          // permits, one of them possibly part-filled) and then takes everything on offer
          // uses every permit.
          const fullBucketMs = Math.floor(((burst - 1) * perMs) / limit);
          fc.pre(fullBucketMs >= 1);
          const stepMs = Math.max(1, Math.floor(fullBucketMs * stepShare));
          const l = limiter({ limit, perMs, burst });
          const durationMs = perMs * 20;
          let admitted = 0;
          for (let now = 0; now <= durationMs; now += stepMs) admitted += take(l, now, burst + 1);
          const lastMs = Math.floor(durationMs / stepMs) * stepMs;
          const expected = (limit * lastMs) / perMs + burst;
          return Math.abs(admitted - expected) <= 1;
        },
      ),
      { seed: 1234, numRuns: 200 },
    );
  });

  it('a fractional interval does not cost a permit of the burst', () => {
    for (const limit of [3, 7, 13, 30, 99]) {
      // Up to a day of monotonic clock (see the report on larger clock values).
      for (const now of [0, 1_000, 3_600_000.37, 86_400_000.123]) {
        const l = limiter({ limit });
        expect(take(l, now, limit * 2)).toBe(limit);
      }
    }
  });

  it('is exact for awkward intervals over a million permits', () => {
    const l = limiter({ limit: 3, perMs: 1_000, burst: 1 }); // 333.33… ms apart
    let admitted = 0;
    for (let now = 0; now <= 333_333_334; now += 1_000 / 3) admitted += take(l, now, 2);
    expect(Math.abs(admitted - 1_000_001)).toBeLessThanOrEqual(1);
  });
});

describe('gcraTake (batch GCRA of the stores)', () => {
  it('grants a burst in one batch, then the steady rate', () => {
    const request = { requested: 8, limit: 10, perMs: 1_000, burst: 5 };
    const first = gcraTake(0, 0, request);
    expect(first.granted).toBe(5);
    expect(first.theoreticalArrivalMs).toBe(500);
    const second = gcraTake(first.theoreticalArrivalMs, 50, request);
    expect(second.granted).toBe(0);
    expect(second.retryAfterMs).toBe(50);
    const third = gcraTake(first.theoreticalArrivalMs, 250, request);
    expect(third.granted).toBe(2);
  });

  it('ttlMs covers the time until the bucket would be full anyway', () => {
    const result = gcraTake(0, 1_000, { requested: 3, limit: 10, perMs: 1_000, burst: 10 });
    expect(result.granted).toBe(3);
    expect(result.ttlMs).toBeGreaterThanOrEqual(300);
  });

  it('agrees with GcraLimiter permit by permit, whatever the batch sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 12 })), {
          minLength: 1,
          maxLength: 80,
        }),
        (limit, perMs, burst, steps) => {
          const single = limiter({ limit, perMs, burst });
          let stored = 0;
          let now = 0;
          for (const [advance, requested] of steps) {
            now += advance;
            const batch = gcraTake(stored, now, { requested, limit, perMs, burst });
            if (batch.granted > 0) stored = batch.theoreticalArrivalMs;
            const one = take(single, now, requested);
            if (one !== batch.granted) return false;
            if (batch.granted === 0) {
              // Both agree on when to come back.
              single.acquire(now);
              if (Math.abs(single.retryAfterMs - batch.retryAfterMs) > 1e-6) return false;
            }
          }
          return true;
        },
      ),
      { seed: 77, numRuns: 500 },
    );
  });
});

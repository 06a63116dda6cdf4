import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyOptions } from '../../../src/config/schema';
import type { FleetLimiter } from '../../../src/fleet/fleet-limiter';
import { LEASE_BATCH_MAX, LeaseSizer } from '../../../src/fleet/lease-sizing';
import { attempt, fleet, succeeding } from './fleet-harness';

type Fleet = ReturnType<typeof fleet>;
let current: Fleet | undefined;

function start(
  size: number,
  rateLimit: NonNullable<PolicyOptions['rateLimit']>,
  fallback: 'local' | 'open' | 'closed' = 'local',
): Fleet {
  current = fleet(size, {
    policy: { circuitBreaker: false, rateLimit },
    store: { rateLimitFallback: fallback },
  });
  return current;
}

afterEach(async () => {
  await current?.close();
  current = undefined;
});

/** Every worker makes `perStep` calls every `stepMs` for `durationMs`; returns admitted calls per worker. */
async function load(f: Fleet, durationMs: number, stepMs: number, perStep: number) {
  const admitted = f.workers.map(() => 0);
  const pipelines = f.workers.map(w => w.pipeline());
  for (let t = 0; t < durationMs; t += stepMs) {
    const calls: Promise<void>[] = [];
    pipelines.forEach((pipeline, i) => {
      for (let k = 0; k < perStep; k++) {
        calls.push(
          attempt(pipeline, succeeding).then(outcome => {
            if (outcome === 'ok') admitted[i]!++;
          }),
        );
      }
    });
    await Promise.all(calls);
    await f.settle(stepMs);
  }
  return admitted;
}

describe('LeaseSizer', () => {
  it('sizes a lease to the measured demand, within the limit per lease lifetime', () => {
    const sizer = new LeaseSizer({ limit: 1_000, perMs: 1_000, burst: 1_000, maxWaitMs: 0 }, 0);
    expect(sizer.ttlMs).toBe(50);
    expect(sizer.maxBatch).toBe(50);
    expect(sizer.batch(0)).toBe(1); // nothing measured yet
    for (let i = 0; i < 400; i++) sizer.note(); // 400 permits in 10 ms = 40/ms
    expect(sizer.batch(10)).toBe(50); // would be 1000, capped to the limit per lifetime
    expect(sizer.batch(10, 7)).toBe(50);
  });

  it('never asks for more than the burst or the absolute cap', () => {
    const small = new LeaseSizer({ limit: 100, perMs: 1_000, burst: 2, maxWaitMs: 0 }, 0);
    for (let i = 0; i < 1_000; i++) small.note();
    expect(small.batch(1)).toBe(2);
    const huge = new LeaseSizer({ limit: 1e9, perMs: 1_000, burst: 1e9, maxWaitMs: 0 }, 0);
    for (let i = 0; i < 1e6; i++) huge.note();
    expect(huge.batch(1)).toBe(LEASE_BATCH_MAX);
  });

  it('low demand gets batches of one (nothing leased ahead goes to waste)', () => {
    const sizer = new LeaseSizer({ limit: 100, perMs: 1_000, burst: 100, maxWaitMs: 0 }, 0);
    sizer.note();
    expect(sizer.batch(100)).toBe(1);
  });
});

describe('fleet-wide rate limit', () => {
  it('admits exactly what the shared bucket grants across workers, never more', async () => {
    const f = start(3, { limit: 200, per: '1s', burst: 20 });
    const admitted = await load(f, 3_000, 5, 3); // demand 1,800/s against a limit of 200/s
    const total = admitted.reduce((a, b) => a + b, 0);
    const allowance = 20 + 200 * 3; // burst + limit × duration
    expect(total).toBeLessThanOrEqual(allowance);
    expect(total).toBeGreaterThan(allowance * 0.95);
    const granted = f.workers
      .map(w => w.pipeline().limiter as FleetLimiter)
      .reduce((sum, l) => sum + l.granted, 0);
    expect(total).toBeLessThanOrEqual(granted); // every permit used was granted by the store
  });

  it('a call waits for the refill instead of being rejected', async () => {
    const f = start(2, { limit: 10, per: '1s' });
    expect(await attempt(f.workers[0]!.pipeline(), succeeding)).toBe('ok');
    expect(await attempt(f.workers[1]!.pipeline(), succeeding)).toBe('ok');
  });

  it('spends leased permits locally: one store call serves many decisions', async () => {
    const f = start(1, { limit: 100_000, per: '1s' });
    const pipeline = f.workers[0]!.pipeline();
    const before = f.workers[0]!.store.operationStats();
    await load(f, 200, 1, 50);
    const refills = f.workers[0]!.store.operationStats()
      .filter(s => s.operation === 'takePermits')
      .reduce((sum, s) => sum + s.histogram.count, 0);
    expect(before.filter(s => s.operation === 'takePermits')).toEqual([]);
    expect(pipeline.status().rateLimit!.allowed).toBe(200 * 50);
    expect(refills).toBeLessThan(200 * 50 * 0.2);
  });

  it('store down, fallback local: each worker enforces its share (limit ÷ workers)', async () => {
    const f = start(2, { limit: 100, per: '1s', burst: 10 }, 'local');
    await f.settle(5_000);
    await f.settle(5_000); // heartbeats: two workers
    f.availability = 'down';
    const admitted = await load(f, 2_000, 10, 2);
    // Each worker: burst 5 + 50/s × 2 s, give or take the leases held when the store went away.
    for (const count of admitted) {
      expect(count).toBeGreaterThan(80);
      expect(count).toBeLessThanOrEqual(5 + 100 + 10);
    }
  });

  it('store down, fallback open: calls go through', async () => {
    const f = start(1, { limit: 10, per: '1s', burst: 1 }, 'open');
    f.availability = 'down';
    const admitted = await load(f, 100, 10, 5);
    expect(admitted[0]).toBe(50);
  });

  it('calls after shutdown fall back without reporting the closed store as an outage', async () => {
    const f = start(1, { limit: 1_000, per: '1s' });
    const worker = f.workers[0]!;
    const pipeline = worker.pipeline();
    expect(await attempt(pipeline, succeeding)).toBe('ok');
    await f.close();
    // Whatever the lease left, calls keep being decided (locally once the store is closed).
    for (let i = 0; i < 50; i++) expect(await attempt(pipeline, succeeding)).toBe('ok');
    expect(worker.logs.filter(line => line.includes('warn'))).toEqual([]);
  });

  it('store down, fallback closed: calls are rejected, and admitted again after recovery', async () => {
    const f = start(1, { limit: 1_000, per: '1s' }, 'closed');
    f.availability = 'down';
    const pipeline = f.workers[0]!.pipeline();
    expect(await attempt(pipeline, succeeding)).toBe('BALDUR_RATE_LIMITED');
    f.availability = 'up';
    await f.settle(2_000);
    expect(await attempt(pipeline, succeeding)).toBe('ok');
  });
});

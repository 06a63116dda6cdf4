import { describe, expect, it } from 'vitest';
import { IdempotencyConflictError } from '../../../src/core/errors';
import type { IdempotencyOptions } from '../../../src/core/policies/idempotency/options';
import type { SetOptions } from '../../../src/core/store';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { FakeClock } from '../../support/fake-clock';
import { deferred, harness, type HarnessOptions } from './pipeline-harness';

const idempotency: IdempotencyOptions = {
  key: args => (typeof args[0] === 'string' ? args[0] : undefined),
  ttlMs: 60_000,
  executionTtlMs: 10_000,
  maxResultBytes: 1_000,
};

function idem(options: HarnessOptions = {}) {
  return harness({}, { ...options, extras: { idempotency, ...options.extras } });
}

/** A store whose writes (and optionally reads) fail, like an unreachable Redis. */
class BrokenStore extends MemoryStore {
  failSets = true;
  override set(key: string, value: string, options?: SetOptions): Promise<number | undefined> {
    if (this.failSets) return Promise.reject(new Error('store unreachable'));
    return super.set(key, value, options);
  }
}

describe('idempotency keys', () => {
  it('concurrent calls with the same key: exactly one executes', async () => {
    const h = idem();
    const d = deferred();
    const calls = [1, 2, 3, 4].map(() => h.call(d.fn, ['order-1']));
    await h.flush();
    expect(d.calls).toHaveLength(1);
    const conflicts = calls.filter(c => c.error instanceof IdempotencyConflictError);
    expect(conflicts).toHaveLength(3);
    for (const c of conflicts)
      expect(c.error).toMatchObject({ status: 'executing', key: 'order-1' });
    d.calls[0]!.resolve({ charged: true });
    await h.flush();
    expect(calls[0]!.value).toEqual({ charged: true });
  });

  it('different keys do not interfere', async () => {
    const h = idem();
    const d = deferred();
    h.call(d.fn, ['a']);
    h.call(d.fn, ['b']);
    await h.flush();
    expect(d.calls).toHaveLength(2);
  });

  it('a duplicate after completion gets the stored result without executing', async () => {
    const h = idem();
    let executions = 0;
    const fn = (id: string) => ({ id, charged: ++executions });
    const first = h.call(fn, ['order-2']);
    await h.flush();
    expect(first.value).toEqual({ id: 'order-2', charged: 1 });
    await h.advance(30_000);
    const duplicate = h.call(fn, ['order-2']);
    await h.flush();
    expect(duplicate.value).toEqual({ id: 'order-2', charged: 1 });
    expect(executions).toBe(1);
    expect(h.ofType('idempotency.decision').map(e => e.decision)).toEqual(['claimed', 'replayed']);
    expect(h.pipeline.status().calls.success).toBe(2);
  });

  it('the stored result is forgotten after ttl', async () => {
    const h = idem();
    let executions = 0;
    h.call(() => ++executions, ['order-3']);
    await h.flush();
    await h.advance(60_000);
    const again = h.call(() => ++executions, ['order-3']);
    await h.flush();
    expect(again.value).toBe(2);
  });

  it('a failure releases the key for the next caller', async () => {
    const h = idem();
    const first = h.call(() => Promise.reject(new Error('declined')), ['order-4']);
    await h.flush();
    expect((first.error as Error).message).toBe('declined');
    const second = h.call(() => 'charged', ['order-4']);
    await h.flush();
    expect(second.value).toBe('charged');
  });

  it('a returned failure (503 response) releases the key too', async () => {
    const h = idem();
    h.call(() => new Response(null, { status: 503 }), ['order-5']);
    await h.flush();
    const second = h.call(() => 'charged', ['order-5']);
    await h.flush();
    expect(second.value).toBe('charged');
  });

  it('a result that cannot be stored makes duplicates conflict instead of re-executing', async () => {
    const h = idem();
    h.call(() => ({ amount: 10n }), ['order-6']); // BigInt: not JSON
    await h.flush();
    let executed = false;
    const duplicate = h.call(() => (executed = true), ['order-6']);
    await h.flush();
    expect(executed).toBe(false);
    expect(duplicate.error).toBeInstanceOf(IdempotencyConflictError);
    expect(duplicate.error).toMatchObject({ status: 'completed' });
  });

  it('calls without a key skip the gate', async () => {
    const h = idem();
    const d = deferred();
    h.call(d.fn, [42]);
    h.call(d.fn, [42]);
    await h.flush();
    expect(d.calls).toHaveLength(2);
    expect(h.events).toEqual([]);
  });

  it('a store error fails closed: IdempotencyConflictError with status unavailable', async () => {
    const clock = new FakeClock();
    const h = idem({ store: new BrokenStore({ clock }) });
    let executed = false;
    const call = h.call(() => (executed = true), ['order-7']);
    await h.flush();
    expect(executed).toBe(false);
    expect(call.error).toBeInstanceOf(IdempotencyConflictError);
    expect(call.error).toMatchObject({
      code: 'BALDUR_IDEMPOTENCY_CONFLICT',
      status: 'unavailable',
      dependency: 'dep',
    });
    expect(h.errors.map(e => e.operation)).toEqual(['idempotency.claim']);
  });

  it('a claim that cannot be completed still returns the result (the claim goes stale)', async () => {
    const clock = new FakeClock();
    const store = new BrokenStore({ clock });
    store.failSets = false;
    const h = idem({ store });
    const d = deferred();
    const call = h.call(d.fn, ['order-8']);
    await h.flush();
    store.failSets = true;
    d.calls[0]!.resolve('done');
    await h.flush();
    expect(call.value).toBe('done');
    expect(h.errors.map(e => e.operation)).toEqual(['idempotency.complete']);
  });

  it('a stale claim (its owner died) is taken over by exactly one caller', async () => {
    const h = idem();
    // Another process claimed the key and vanished.
    await h.store.set(
      'idem:dep:order-9',
      JSON.stringify({
        v: 1,
        status: 'executing',
        startedAtWallMs: h.clock.wallMs(),
        owner: 'ghost',
      }),
      { ifVersion: 0, ttlMs: 60_000 },
    );
    const early = h.call(() => 'too early', ['order-9']);
    await h.flush();
    expect(early.error).toMatchObject({ status: 'executing' });
    await h.advance(15_000); // executionTtl + clock-skew allowance
    const d = deferred();
    const takers = [h.call(d.fn, ['order-9']), h.call(d.fn, ['order-9'])];
    await h.flush();
    expect(d.calls).toHaveLength(1);
    expect(takers[1]!.error).toBeInstanceOf(IdempotencyConflictError);
    expect(h.ofType('idempotency.decision').map(e => e.decision)).toEqual(['takeover']);
  });
});

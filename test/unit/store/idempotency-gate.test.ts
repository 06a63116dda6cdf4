import { describe, expect, it } from 'vitest';
import type { StateStore } from '../../../src/core/store';
import { IdempotencyGate } from '../../../src/core/policies/idempotency/idempotency-gate';
import { CLOCK_SKEW_TOLERANCE_MS } from '../../../src/core/policies/idempotency/options';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { FakeClock } from '../../support/fake-clock';

const EXECUTION_TTL_MS = 10_000;
const TTL_MS = 60 * 60 * 1000;
/** Age at which a claim becomes stale: the execution TTL plus the clock-skew tolerance. */
const STALE_AFTER_MS = EXECUTION_TTL_MS + CLOCK_SKEW_TOLERANCE_MS;

function setup(): {
  clock: FakeClock;
  store: MemoryStore;
  gate: (owner: string) => IdempotencyGate;
} {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  return { clock, store, gate: owner => new IdempotencyGate(store, clock, owner) };
}

describe('IdempotencyGate', () => {
  it('lets the first caller claim a key and tells a second one it is executing', async () => {
    const { clock, gate } = setup();
    const first = await gate('a').claim('order-1', EXECUTION_TTL_MS, TTL_MS);
    expect(first).toMatchObject({ kind: 'claimed', takeover: false });
    clock.advance(4_000);
    expect(await gate('b').claim('order-1', EXECUTION_TTL_MS, TTL_MS)).toEqual({
      kind: 'executing',
      retryAfterMs: STALE_AFTER_MS - 4_000,
    });
  });

  it('replays the stored result to duplicates once completed', async () => {
    const { gate } = setup();
    const owner = gate('a');
    const claim = await owner.claim('order-1', EXECUTION_TTL_MS, TTL_MS);
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    expect(
      await owner.complete('order-1', claim.version, JSON.stringify({ charged: 42 }), TTL_MS),
    ).toBe(true);
    expect(await gate('b').claim('order-1', EXECUTION_TTL_MS, TTL_MS)).toEqual({
      kind: 'completed',
      result: { value: { charged: 42 } },
    });
  });

  it('reports a completion without a stored result as completed with no result', async () => {
    const { gate } = setup();
    const owner = gate('a');
    const claim = await owner.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await owner.complete('k', claim.version, undefined, TTL_MS);
    expect(await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS)).toEqual({
      kind: 'completed',
      result: undefined,
    });
  });

  it('forgets a completed result after its ttl', async () => {
    const { clock, gate } = setup();
    const owner = gate('a');
    const claim = await owner.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await owner.complete('k', claim.version, '"done"', 30_000);
    clock.advance(29_999);
    expect((await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS)).kind).toBe('completed');
    clock.advance(1);
    expect(await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS)).toMatchObject({
      kind: 'claimed',
      takeover: false,
    });
  });

  it('releases a failed claim so the next caller executes', async () => {
    const { gate } = setup();
    const owner = gate('a');
    const claim = await owner.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await owner.release('k', claim.version);
    expect(await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS)).toMatchObject({
      kind: 'claimed',
      takeover: false,
    });
  });

  it('a stale release or completion cannot disturb the next owner', async () => {
    const { gate } = setup();
    const first = gate('a');
    const old = await first.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (old.kind !== 'claimed') throw new Error('expected a claim');
    await first.release('k', old.version);
    const second = gate('b');
    const fresh = await second.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (fresh.kind !== 'claimed') throw new Error('expected a claim');

    await first.release('k', old.version);
    expect(await first.complete('k', old.version, '"stale"', TTL_MS)).toBe(false);
    expect((await gate('c').claim('k', EXECUTION_TTL_MS, TTL_MS)).kind).toBe('executing');
    expect(await second.complete('k', fresh.version, '"fresh"', TTL_MS)).toBe(true);
    expect(await gate('c').claim('k', EXECUTION_TTL_MS, TTL_MS)).toEqual({
      kind: 'completed',
      result: { value: 'fresh' },
    });
  });

  it('lets a claim be taken over only once it is older than executionTtl + 5 s', async () => {
    const { clock, gate } = setup();
    const crashed = gate('crashed');
    const old = await crashed.claim('k', EXECUTION_TTL_MS, TTL_MS);
    if (old.kind !== 'claimed') throw new Error('expected a claim');
    clock.advance(STALE_AFTER_MS - 1);
    expect(await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS)).toEqual({
      kind: 'executing',
      retryAfterMs: 1,
    });
    clock.advance(1);
    const takeover = await gate('b').claim('k', EXECUTION_TTL_MS, TTL_MS);
    expect(takeover).toMatchObject({ kind: 'claimed', takeover: true });
    // The crashed owner, coming back, can no longer complete or release the key.
    expect(await crashed.complete('k', old.version, '"late"', TTL_MS)).toBe(false);
    await crashed.release('k', old.version);
    expect((await gate('c').claim('k', EXECUTION_TTL_MS, TTL_MS)).kind).toBe('executing');
  });

  it('lets exactly one of many concurrent contenders take over a stale claim', async () => {
    const { clock, gate } = setup();
    await gate('crashed').claim('k', EXECUTION_TTL_MS, TTL_MS);
    clock.advance(STALE_AFTER_MS);
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gate(`c${i}`).claim('k', EXECUTION_TTL_MS, TTL_MS)),
    );
    const winners = decisions.filter(d => d.kind === 'claimed');
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ takeover: true });
    expect(decisions.filter(d => d.kind === 'executing')).toHaveLength(19);
  });

  it('lets exactly one of many concurrent first callers claim a fresh key', async () => {
    const { gate } = setup();
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gate(`c${i}`).claim('k', EXECUTION_TTL_MS, TTL_MS)),
    );
    expect(decisions.filter(d => d.kind === 'claimed')).toHaveLength(1);
    expect(decisions.filter(d => d.kind === 'executing')).toHaveLength(19);
  });

  it.each([
    ['garbage', 'not json at all {'],
    ['a newer codec version', JSON.stringify({ v: 2, status: 'executing', startedAtWallMs: 1 })],
    ['an unknown status', JSON.stringify({ v: 1, status: 'paused', startedAtWallMs: 1 })],
    ['no start time', JSON.stringify({ v: 1, status: 'executing' })],
    ['JSON null', 'null'],
    [
      'an unparsable stored result',
      JSON.stringify({ v: 1, status: 'completed', startedAtWallMs: 1, result: '{oops' }),
    ],
  ])('takes over an unreadable record (%s) instead of failing the call', async (_, text) => {
    const { store, gate } = setup();
    await store.set('k', text);
    const decision = await gate('a').claim('k', EXECUTION_TTL_MS, TTL_MS);
    expect(decision).toMatchObject({ kind: 'claimed', takeover: true });
    expect(JSON.parse((await store.get('k'))!.value)).toMatchObject({
      v: 1,
      status: 'executing',
      owner: 'a',
    });
  });

  it('claims after all when the existing claim vanishes between the write and the read', async () => {
    const { clock } = setup();
    const store = new MemoryStore({ clock });
    await store.set('k', JSON.stringify({ v: 1, status: 'executing', startedAtWallMs: 0 }));
    let vanished = false;
    // The record expires (or is released) right after our conditional write failed.
    const racing = new Proxy(store, {
      get(target, property) {
        if (property === 'get') {
          return async (key: string) => {
            if (!vanished) {
              vanished = true;
              await target.delete(key);
            }
            return target.get(key);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) as StateStore;
    const decision = await new IdempotencyGate(racing, clock, 'a').claim(
      'k',
      EXECUTION_TTL_MS,
      TTL_MS,
    );
    expect(decision).toMatchObject({ kind: 'claimed', takeover: false });
  });
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateStore } from '../../src/core/store';

/**
 * What a backend's test file hands to the conformance suite.
 *
 * - `stores`: at least two clients over the SAME backend (for the memory store,
 *   the same instance repeated), so that every cross-client promise is checked.
 * - `elapse(ms)`: let `ms` of store time pass — advance a fake clock for the
 *   memory store, really wait for networked stores.
 * - `close()`: release every client and connection.
 *
 * The harness is created once per suite; every test uses fresh random keys,
 * collections and channels, so the suite can run against a persistent server
 * (and alongside other runs) without collisions or cleanup.
 */
export interface StoreHarness {
  stores: StateStore[];
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
  /**
   * Stretch the time-based scenarios (steps, short TTLs, windows) by this
   * factor; default 1. For backends whose writes wait for a disk flush (SQL),
   * so that a loaded machine cannot push a few sequential writes past a
   * 100 ms TTL.
   */
  timeScale?: number;
}

/** One step of store time in the time-based tests; a networked run waits about two of them in total. */
const STEP_MS = 150;
/** A TTL that has certainly passed after one step, yet outlives a few round trips. */
const SHORT_TTL_MS = 100;
/** Long enough never to expire while the suite runs. */
const LONG_TTL_MS = 60_000;
/** Bounded wait for asynchronous delivery (pub/sub); never a fixed sleep. */
const DELIVERY_TIMEOUT_MS = 5_000;

const CONCURRENCY = 40;

export function describeStoreConformance(
  name: string,
  createHarness: () => Promise<StoreHarness>,
): void {
  describe(`StateStore conformance: ${name}`, () => {
    let harness: StoreHarness;
    /** STEP_MS and SHORT_TTL_MS, stretched by the harness's timeScale. */
    const stepMs = (): number => STEP_MS * (harness.timeScale ?? 1);
    const shortTtlMs = (): number => SHORT_TTL_MS * (harness.timeScale ?? 1);
    const run = randomUUID().slice(0, 8);
    let sequence = 0;
    /** A name no other test, run or process uses. */
    const unique = (label: string): string => `conf:${run}:${label}:${++sequence}`;
    /** The i-th client, wrapping around. */
    const client = (i: number): StateStore => harness.stores[i % harness.stores.length]!;

    beforeAll(async () => {
      harness = await createHarness();
      if (harness.stores.length < 2) {
        throw new Error(
          `store conformance needs at least two clients over one backend (got ${harness.stores.length})`,
        );
      }
    });

    afterAll(async () => {
      await harness?.close();
    });

    describe('get / set / delete', () => {
      it('reads back what was written, from every client', async () => {
        const key = unique('roundtrip');
        expect(await client(0).get(key)).toBeUndefined();
        const version = await client(0).set(key, 'hello');
        expect(version).toBeGreaterThan(0);
        for (const store of harness.stores) {
          expect(await store.get(key)).toEqual({ value: 'hello', version });
        }
      });

      it('keeps values and keys opaque (empty, unicode, JSON, newlines, large)', async () => {
        const values = [
          '',
          'ünïcødé ✓ 日本語 🚀',
          JSON.stringify({ a: [1, 2, { b: 'c"d' }], e: null }),
          "line 1\nline 2\r\n\ttab \\ backslash ' quote",
          'x'.repeat(20_000),
        ];
        const keys = values.map((_, i) => `${unique('opaque')}:with spaces/{tag}*?[${i}]:ü`);
        await Promise.all(keys.map((key, i) => client(i).set(key, values[i]!)));
        for (const [i, key] of keys.entries()) {
          expect((await client(i + 1).get(key))?.value).toBe(values[i]);
        }
      });

      it('increases the version on every write and reports the current one', async () => {
        const key = unique('versions');
        const v1 = (await client(0).set(key, 'a'))!;
        const v2 = (await client(1).set(key, 'b'))!;
        const v3 = (await client(0).set(key, 'c', { ifVersion: v2 }))!;
        expect(v1).toBeGreaterThan(0);
        expect(v2).toBeGreaterThan(v1);
        expect(v3).toBeGreaterThan(v2);
        expect(await client(1).get(key)).toEqual({ value: 'c', version: v3 });
      });

      it('ifVersion: 0 writes only when the key is absent', async () => {
        const key = unique('absent');
        const first = await client(0).set(key, 'first', { ifVersion: 0 });
        expect(first).toBeGreaterThan(0);
        expect(await client(1).set(key, 'second', { ifVersion: 0 })).toBeUndefined();
        expect(await client(0).get(key)).toEqual({ value: 'first', version: first });
      });

      it('compare-and-set succeeds on the current version and fails on a stale one', async () => {
        const key = unique('cas');
        const v1 = (await client(0).set(key, 'one'))!;
        const v2 = await client(1).set(key, 'two', { ifVersion: v1 });
        expect(v2).toBeGreaterThan(v1);
        expect(await client(0).set(key, 'stale', { ifVersion: v1 })).toBeUndefined();
        expect(await client(0).get(key)).toEqual({ value: 'two', version: v2 });
      });

      it('compare-and-set on a missing key with a non-zero version fails and creates nothing', async () => {
        const key = unique('cas-missing');
        expect(await client(0).set(key, 'x', { ifVersion: 7 })).toBeUndefined();
        expect(await client(1).get(key)).toBeUndefined();
      });

      it('delete removes the key and reports whether it did', async () => {
        const key = unique('delete');
        await client(0).set(key, 'v');
        expect(await client(1).delete(key)).toBe(true);
        expect(await client(0).get(key)).toBeUndefined();
        expect(await client(0).delete(key)).toBe(false);
        expect(await client(0).delete(unique('never-written'))).toBe(false);
      });

      it('delete with ifVersion removes only the matching version', async () => {
        const key = unique('delete-cas');
        const v1 = (await client(0).set(key, 'one'))!;
        const v2 = (await client(0).set(key, 'two'))!;
        expect(await client(1).delete(key, v1)).toBe(false);
        expect(await client(0).get(key)).toEqual({ value: 'two', version: v2 });
        expect(await client(1).delete(key, v2)).toBe(true);
        expect(await client(0).get(key)).toBeUndefined();
      });

      it('never reuses a version for a deleted and re-created key (no ABA)', async () => {
        const key = unique('aba');
        const old = (await client(0).set(key, 'first owner', { ifVersion: 0 }))!;
        expect(await client(0).delete(key, old)).toBe(true);
        const fresh = (await client(1).set(key, 'second owner', { ifVersion: 0 }))!;
        expect(fresh).not.toBe(old);
        // The first owner's stale token must not overwrite or delete the second owner's value.
        expect(await client(0).set(key, 'late write', { ifVersion: old })).toBeUndefined();
        expect(await client(0).delete(key, old)).toBe(false);
        expect(await client(1).get(key)).toEqual({ value: 'second owner', version: fresh });
      });
    });

    describe('increment', () => {
      it('creates the counter with the delta and adds to it from any client', async () => {
        const key = unique('counter');
        const first = await client(0).increment(key, 3, LONG_TTL_MS);
        expect(first.value).toBe(3);
        expect(first.resetInMs).toBeGreaterThan(0);
        expect(first.resetInMs).toBeLessThanOrEqual(LONG_TTL_MS);
        const second = await client(1).increment(key, 4, LONG_TTL_MS);
        expect(second.value).toBe(7);
        expect(second.resetInMs).toBeLessThanOrEqual(first.resetInMs);
        expect((await client(0).increment(key, -2, LONG_TTL_MS)).value).toBe(5);
      });

      it('keeps counters under different keys apart', async () => {
        const a = unique('counter-a');
        const b = unique('counter-b');
        await client(0).increment(a, 10, LONG_TTL_MS);
        expect((await client(1).increment(b, 1, LONG_TTL_MS)).value).toBe(1);
        expect((await client(1).increment(a, 1, LONG_TTL_MS)).value).toBe(11);
      });
    });

    describe('raise', () => {
      it('stores the maximum and never shrinks', async () => {
        const key = unique('raise');
        expect(await client(0).raise(key, 100, LONG_TTL_MS)).toBe(100);
        expect(await client(1).raise(key, 50, LONG_TTL_MS)).toBe(100);
        expect(await client(0).raise(key, 250, LONG_TTL_MS)).toBe(250);
        expect(await client(1).raise(key, 249, LONG_TTL_MS)).toBe(250);
        expect(await client(0).raise(key, 250, LONG_TTL_MS)).toBe(250);
      });

      it('handles deadline-sized numbers exactly', async () => {
        const key = unique('raise-big');
        const deadline = 1_767_225_600_123; // wall-clock milliseconds
        expect(await client(0).raise(key, deadline, LONG_TTL_MS)).toBe(deadline);
        expect(await client(1).raise(key, deadline - 1, LONG_TTL_MS)).toBe(deadline);
        expect(await client(1).raise(key, deadline + 1, LONG_TTL_MS)).toBe(deadline + 1);
      });
    });

    describe('takePermits', () => {
      // 60 s per few permits: nothing refills while these tests run, whatever the backend's latency.
      it('grants up to the request and no more than the burst, then reports when to retry', async () => {
        const key = unique('permits');
        const request = { limit: 5, perMs: 60_000, burst: 5 };
        expect(await client(0).takePermits(key, { ...request, requested: 3 })).toEqual({
          granted: 3,
          retryAfterMs: 0,
        });
        expect(await client(1).takePermits(key, { ...request, requested: 3 })).toEqual({
          granted: 2,
          retryAfterMs: 0,
        });
        const empty = await client(0).takePermits(key, { ...request, requested: 1 });
        expect(empty.granted).toBe(0);
        // One permit every 12 s: the next one is due within one interval.
        expect(empty.retryAfterMs).toBeGreaterThan(0);
        expect(empty.retryAfterMs).toBeLessThanOrEqual(12_000);
      });

      it('allows a burst larger than the per-period limit', async () => {
        const key = unique('permits-burst');
        const grant = await client(0).takePermits(key, {
          requested: 10,
          limit: 2,
          perMs: 60_000,
          burst: 6,
        });
        expect(grant.granted).toBe(6);
      });

      it('limits back-to-back permits to a small burst', async () => {
        const key = unique('permits-small-burst');
        const request = { limit: 10, perMs: 60_000, burst: 1 };
        expect((await client(0).takePermits(key, { ...request, requested: 4 })).granted).toBe(1);
        const next = await client(1).takePermits(key, { ...request, requested: 1 });
        expect(next.granted).toBe(0);
        expect(next.retryAfterMs).toBeGreaterThan(0);
        expect(next.retryAfterMs).toBeLessThanOrEqual(6_000);
      });

      it('keeps buckets under different keys apart', async () => {
        const request = { requested: 5, limit: 5, perMs: 60_000, burst: 5 };
        const a = unique('bucket-a');
        const b = unique('bucket-b');
        expect((await client(0).takePermits(a, request)).granted).toBe(5);
        expect((await client(1).takePermits(b, request)).granted).toBe(5);
      });
    });

    describe('records', () => {
      const options = { maxRecords: 100 };

      it('adds and reads a record from any client, with a version', async () => {
        const collection = unique('records');
        await client(0).addRecord(collection, 'r1', 'payload', options);
        const record = await client(1).getRecord(collection, 'r1');
        expect(record).toMatchObject({ id: 'r1', value: 'payload' });
        expect(record!.version).toBeGreaterThan(0);
        expect(await client(1).getRecord(collection, 'missing')).toBeUndefined();
      });

      // Insertion order deliberately differs from the ids' sort order (either way), so a backend
      // that orders by id, or breaks same-millisecond ties by id, is caught.
      const INSERTION_ORDER = ['delta', 'alpha', 'echo', 'bravo', 'charlie'];

      it('lists newest first and pages with beforeId', async () => {
        const collection = unique('paging');
        for (const [i, id] of INSERTION_ORDER.entries()) {
          await client(i).addRecord(collection, id, `value of ${id}`, options);
        }
        const ids = (records: { id: string }[]): string[] => records.map(r => r.id);
        const all = await client(0).listRecords(collection, { limit: 10 });
        expect(ids(all)).toEqual(['charlie', 'bravo', 'echo', 'alpha', 'delta']);
        expect(all[0]).toMatchObject({ id: 'charlie', value: 'value of charlie' });
        expect(all[0]!.version).toBeGreaterThan(0);

        const page1 = await client(1).listRecords(collection, { limit: 2 });
        expect(ids(page1)).toEqual(['charlie', 'bravo']);
        const page2 = await client(0).listRecords(collection, { limit: 2, beforeId: 'bravo' });
        expect(ids(page2)).toEqual(['echo', 'alpha']);
        const page3 = await client(1).listRecords(collection, { limit: 2, beforeId: 'alpha' });
        expect(ids(page3)).toEqual(['delta']);
        expect(await client(0).listRecords(collection, { limit: 2, beforeId: 'delta' })).toEqual(
          [],
        );
      });

      it('keeps at most maxRecords, dropping the oldest', async () => {
        const collection = unique('bounded');
        for (const [i, id] of INSERTION_ORDER.entries()) {
          await client(i).addRecord(collection, id, id, { maxRecords: 3 });
        }
        expect(await client(0).countRecords(collection)).toBe(3);
        const listed = await client(1).listRecords(collection, { limit: 10 });
        expect(listed.map(r => r.id)).toEqual(['charlie', 'bravo', 'echo']);
        expect(await client(0).getRecord(collection, 'delta')).toBeUndefined();
        expect(await client(0).getRecord(collection, 'alpha')).toBeUndefined();
      });

      it('updates a record with compare-and-set', async () => {
        const collection = unique('update');
        await client(0).addRecord(collection, 'r', 'v1', options);
        const v1 = (await client(0).getRecord(collection, 'r'))!.version;
        const v2 = await client(1).updateRecord(collection, 'r', 'v2', v1);
        expect(v2).toBeGreaterThan(v1);
        expect(await client(0).updateRecord(collection, 'r', 'stale', v1)).toBeUndefined();
        expect(await client(0).getRecord(collection, 'r')).toEqual({
          id: 'r',
          value: 'v2',
          version: v2,
        });
        const v3 = await client(0).updateRecord(collection, 'r', 'unconditional');
        expect(v3).toBeGreaterThan(v2!);
        expect((await client(1).getRecord(collection, 'r'))?.value).toBe('unconditional');
      });

      it('does not create a record by updating a missing one', async () => {
        const collection = unique('update-missing');
        expect(await client(0).updateRecord(collection, 'ghost', 'v')).toBeUndefined();
        expect(await client(0).updateRecord(collection, 'ghost', 'v', 1)).toBeUndefined();
        expect(await client(1).getRecord(collection, 'ghost')).toBeUndefined();
        expect(await client(1).countRecords(collection)).toBe(0);
      });

      it('keeps an updated record in its place in the listing', async () => {
        const collection = unique('update-order');
        for (const id of ['b', 'c', 'a']) await client(0).addRecord(collection, id, id, options);
        await client(1).updateRecord(collection, 'b', 'b2');
        const listed = await client(0).listRecords(collection, { limit: 10 });
        expect(listed.map(r => [r.id, r.value])).toEqual([
          ['a', 'a'],
          ['c', 'c'],
          ['b', 'b2'],
        ]);
      });

      it('removes a record and counts what is left', async () => {
        const collection = unique('remove');
        for (const id of ['b', 'c', 'a']) await client(0).addRecord(collection, id, id, options);
        expect(await client(1).countRecords(collection)).toBe(3);
        expect(await client(1).removeRecord(collection, 'c')).toBe(true);
        expect(await client(0).removeRecord(collection, 'c')).toBe(false);
        expect(await client(0).getRecord(collection, 'c')).toBeUndefined();
        expect(await client(0).countRecords(collection)).toBe(2);
        const listed = await client(1).listRecords(collection, { limit: 10 });
        expect(listed.map(r => r.id)).toEqual(['a', 'b']);
      });

      it('treats an unknown collection as empty', async () => {
        const collection = unique('empty');
        expect(await client(0).countRecords(collection)).toBe(0);
        expect(await client(0).listRecords(collection, { limit: 10 })).toEqual([]);
        expect(await client(0).removeRecord(collection, 'x')).toBe(false);
      });

      it('keeps collections apart, even for the same record id', async () => {
        const first = unique('first');
        const second = unique('second');
        await client(0).addRecord(first, 'same-id', 'in first', options);
        await client(1).addRecord(second, 'same-id', 'in second', options);
        expect((await client(0).getRecord(first, 'same-id'))?.value).toBe('in first');
        expect((await client(1).getRecord(second, 'same-id'))?.value).toBe('in second');
        expect(await client(0).removeRecord(first, 'same-id')).toBe(true);
        expect((await client(0).getRecord(second, 'same-id'))?.value).toBe('in second');
        expect(await client(1).countRecords(second)).toBe(1);
      });
    });

    // `subscribe` resolves once the subscription is live: a message published after that must arrive.
    describe('publish / subscribe', () => {
      it('delivers a message to every subscriber on every client', async () => {
        const channel = unique('channel');
        const inboxes = harness.stores.map(() => [] as string[]);
        const extra: string[] = [];
        const subscriptions = await Promise.all([
          ...harness.stores.map((store, i) => store.subscribe(channel, m => inboxes[i]!.push(m))),
          client(0).subscribe(channel, m => extra.push(m)),
        ]);
        await client(1).publish(channel, 'from client 1');
        await client(0).publish(channel, '{"json":"ü ✓"}');
        await waitFor(
          () => [...inboxes, extra].every(inbox => inbox.length >= 2),
          'every subscriber received both messages',
        );
        for (const inbox of [...inboxes, extra]) {
          expect([...inbox].sort()).toEqual(['from client 1', '{"json":"ü ✓"}'].sort());
        }
        await Promise.all(subscriptions.map(s => s.unsubscribe()));
      });

      it('delivers every message of a burst exactly once', async () => {
        const channel = unique('burst');
        const received: string[] = [];
        const subscription = await client(1).subscribe(channel, m => received.push(m));
        const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
        await Promise.all(sent.map((message, i) => client(i).publish(channel, message)));
        await waitFor(() => received.length >= sent.length, 'all 20 messages arrived');
        expect([...received].sort()).toEqual([...sent].sort());
        await subscription.unsubscribe();
      });

      it('stops delivering to a subscriber that unsubscribed, and only to it', async () => {
        const channel = unique('unsubscribe');
        const gone: string[] = [];
        const sameClient: string[] = [];
        const otherClient: string[] = [];
        const leaving = await client(0).subscribe(channel, m => gone.push(m));
        const staying = await client(0).subscribe(channel, m => sameClient.push(m));
        const remote = await client(1).subscribe(channel, m => otherClient.push(m));
        await client(1).publish(channel, 'before');
        await waitFor(
          () => gone.length === 1 && sameClient.length === 1 && otherClient.length === 1,
          'the first message reached all three subscribers',
        );
        await leaving.unsubscribe();
        await client(1).publish(channel, 'after');
        await waitFor(
          () => sameClient.length === 2 && otherClient.length === 2,
          'the second message reached the remaining subscribers',
        );
        expect(gone).toEqual(['before']);
        expect(sameClient).toEqual(['before', 'after']);
        await Promise.all([staying.unsubscribe(), remote.unsubscribe()]);
      });

      it('keeps channels apart', async () => {
        const channelA = unique('channel-a');
        const channelB = unique('channel-b');
        const onA: string[] = [];
        const onB: string[] = [];
        const subA = await client(0).subscribe(channelA, m => onA.push(m));
        const subB = await client(1).subscribe(channelB, m => onB.push(m));
        await client(0).publish(channelA, 'for A');
        await client(1).publish(channelB, 'for B');
        await waitFor(() => onA.length >= 1 && onB.length >= 1, 'both channels delivered');
        expect(onA).toEqual(['for A']);
        expect(onB).toEqual(['for B']);
        await Promise.all([subA.unsubscribe(), subB.unsubscribe()]);
      });

      it('publishing to a channel nobody listens on is harmless', async () => {
        await expect(client(0).publish(unique('nobody'), 'into the void')).resolves.toBeUndefined();
      });
    });

    describe('concurrency', () => {
      it(`exactly one of ${CONCURRENCY} concurrent claims (ifVersion: 0) wins`, async () => {
        const key = unique('claim-race');
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            client(i).set(key, `owner-${i}`, { ifVersion: 0, ttlMs: LONG_TTL_MS }),
          ),
        );
        const winners = results.flatMap((version, i) => (version === undefined ? [] : [i]));
        expect(winners).toHaveLength(1);
        const winner = winners[0]!;
        expect(await client(winner + 1).get(key)).toEqual({
          value: `owner-${winner}`,
          version: results[winner],
        });
      });

      it(`exactly one of ${CONCURRENCY} concurrent updates from the same version wins`, async () => {
        const key = unique('cas-race');
        const base = (await client(0).set(key, 'base'))!;
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            client(i).set(key, `writer-${i}`, { ifVersion: base }),
          ),
        );
        const winners = results.flatMap((version, i) => (version === undefined ? [] : [i]));
        expect(winners).toHaveLength(1);
        expect(await client(1).get(key)).toEqual({
          value: `writer-${winners[0]}`,
          version: results[winners[0]!],
        });
      });

      it('exactly one of many concurrent conditional deletes wins', async () => {
        const key = unique('delete-race');
        const version = (await client(0).set(key, 'v'))!;
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) => client(i).delete(key, version)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('concurrent increments lose no update and each sees a distinct total', async () => {
        const key = unique('increment-race');
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY * 2 }, (_, i) =>
            client(i).increment(key, 1, LONG_TTL_MS),
          ),
        );
        const totals = results.map(r => r.value).sort((a, b) => a - b);
        expect(totals).toEqual(Array.from({ length: CONCURRENCY * 2 }, (_, i) => i + 1));
        expect((await client(0).increment(key, 0, LONG_TTL_MS)).value).toBe(CONCURRENCY * 2);
      });

      it('concurrent raises keep the maximum', async () => {
        const key = unique('raise-race');
        const values = Array.from({ length: CONCURRENCY }, (_, i) => (i * 7919) % 1000);
        const results = await Promise.all(
          values.map((value, i) => client(i).raise(key, value, LONG_TTL_MS)),
        );
        results.forEach((stored, i) => expect(stored).toBeGreaterThanOrEqual(values[i]!));
        expect(await client(0).raise(key, -1, LONG_TTL_MS)).toBe(Math.max(...values));
      });

      it('concurrent takePermits never over-grant', async () => {
        const single = unique('permits-race');
        const batch = unique('permits-batch-race');
        const request = { limit: 25, perMs: 60_000, burst: 25 };
        const [singles, batches] = await Promise.all([
          Promise.all(
            Array.from({ length: CONCURRENCY * 2 }, (_, i) =>
              client(i).takePermits(single, { ...request, requested: 1 }),
            ),
          ),
          Promise.all(
            Array.from({ length: CONCURRENCY }, (_, i) =>
              client(i).takePermits(batch, { ...request, requested: 3 }),
            ),
          ),
        ]);
        const total = (grants: { granted: number }[]): number =>
          grants.reduce((sum, g) => sum + g.granted, 0);
        expect(total(singles)).toBe(25);
        expect(total(batches)).toBe(25);
        for (const grant of [...singles, ...batches]) {
          expect(grant.granted).toBeGreaterThanOrEqual(0);
          expect(grant.granted).toBeLessThanOrEqual(3);
          if (grant.granted === 0) expect(grant.retryAfterMs).toBeGreaterThan(0);
        }
      });

      it('exactly one of many concurrent record updates from the same version wins', async () => {
        const collection = unique('record-race');
        await client(0).addRecord(collection, 'r', 'base', { maxRecords: 10 });
        const base = (await client(0).getRecord(collection, 'r'))!.version;
        const results = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            client(i).updateRecord(collection, 'r', `writer-${i}`, base),
          ),
        );
        const winners = results.flatMap((version, i) => (version === undefined ? [] : [i]));
        expect(winners).toHaveLength(1);
        expect((await client(1).getRecord(collection, 'r'))?.value).toBe(`writer-${winners[0]}`);
      });

      it('concurrent adds keep exactly maxRecords once they settle', async () => {
        const collection = unique('add-race');
        await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            client(i).addRecord(collection, `r${i}`, `v${i}`, { maxRecords: 5 }),
          ),
        );
        expect(await client(0).countRecords(collection)).toBe(5);
        expect(await client(1).listRecords(collection, { limit: 100 })).toHaveLength(5);
      });
    });

    describe('expiry and windows', () => {
      /**
       * These scenarios run side by side and share every wait: each calls
       * `step()` to let STEP_MS of store time pass, and the harness elapses once
       * per step for all of them.
       */
      type Scenario = (step: () => Promise<void>) => Promise<void>;
      const scenarios = new Map<string, Scenario>();
      const results = new Map<string, Promise<void>>();
      const timed = (title: string, scenario: Scenario): void => {
        scenarios.set(title, scenario);
        it(title, () => results.get(title));
      };

      beforeAll(() => {
        const timeline = new Timeline(ms => harness.elapse(ms), stepMs());
        for (const [title, promise] of timeline.start(scenarios)) {
          results.set(title, promise);
          promise.catch(() => undefined); // reported by the test that awaits it
        }
      });

      timed('a key written with ttlMs expires; others stay', async step => {
        const short = unique('ttl-short');
        const long = unique('ttl-long');
        const persistent = unique('ttl-none');
        const cleared = unique('ttl-cleared');
        await client(0).set(short, 'short', { ttlMs: shortTtlMs() });
        await client(0).set(long, 'long', { ttlMs: LONG_TTL_MS });
        await client(0).set(persistent, 'persistent');
        await client(0).set(cleared, 'with ttl', { ttlMs: shortTtlMs() });
        await client(0).set(cleared, 'rewritten without ttl');
        expect((await client(1).get(short))?.value).toBe('short');
        await step();
        expect(await client(1).get(short)).toBeUndefined();
        expect(await client(0).get(short)).toBeUndefined();
        expect((await client(1).get(long))?.value).toBe('long');
        expect((await client(1).get(persistent))?.value).toBe('persistent');
        expect((await client(1).get(cleared))?.value).toBe('rewritten without ttl');
      });

      timed('an expired key counts as absent for ifVersion: 0, delete and CAS', async step => {
        const key = unique('ttl-claim');
        const old = (await client(0).set(key, 'crashed owner', {
          ifVersion: 0,
          ttlMs: shortTtlMs(),
        }))!;
        expect(await client(1).set(key, 'too early', { ifVersion: 0 })).toBeUndefined();
        await step();
        expect(await client(0).delete(key)).toBe(false);
        expect(await client(1).set(key, 'stale token', { ifVersion: old })).toBeUndefined();
        const fresh = await client(1).set(key, 'next owner', { ifVersion: 0, ttlMs: LONG_TTL_MS });
        expect(fresh).toBeDefined();
        expect(fresh).not.toBe(old);
        expect(await client(0).get(key)).toEqual({ value: 'next owner', version: fresh });
      });

      timed('an increment window is fixed at first use and restarts after it', async step => {
        const key = unique('window');
        const windowMs = stepMs() * 1.5;
        expect((await client(0).increment(key, 1, windowMs)).value).toBe(1);
        await step();
        // Still inside the window: the count carries on, and this increment does not extend it.
        const inside = await client(1).increment(key, 1, windowMs);
        expect(inside.value).toBe(2);
        expect(inside.resetInMs).toBeLessThan(windowMs - stepMs() / 2);
        await step();
        const restarted = await client(0).increment(key, 5, windowMs);
        expect(restarted.value).toBe(5);
        expect(restarted.resetInMs).toBeGreaterThan(windowMs - stepMs());
        expect(restarted.resetInMs).toBeLessThanOrEqual(windowMs);
      });

      timed('a raised value expires with its ttl unless a higher raise extended it', async step => {
        const plain = unique('raise-ttl');
        const extended = unique('raise-extended');
        expect(await client(0).raise(plain, 10, shortTtlMs())).toBe(10);
        expect(await client(1).raise(plain, 5, LONG_TTL_MS)).toBe(10);
        expect(await client(0).raise(extended, 10, shortTtlMs())).toBe(10);
        expect(await client(1).raise(extended, 20, LONG_TTL_MS)).toBe(20);
        await step();
        expect(await client(1).raise(plain, 3, LONG_TTL_MS)).toBe(3);
        expect(await client(0).raise(extended, 3, LONG_TTL_MS)).toBe(20);
      });

      timed('an emptied permit bucket refills to its burst, not beyond', async step => {
        const key = unique('refill');
        // One permit per 50 ms: a step refills the whole burst of 2 (and more, were it not capped).
        const request = { limit: 2, perMs: 100 * (harness.timeScale ?? 1), burst: 2 };
        expect((await client(0).takePermits(key, { ...request, requested: 2 })).granted).toBe(2);
        const empty = await client(1).takePermits(key, { ...request, requested: 1 });
        expect(empty.granted).toBe(0);
        expect(empty.retryAfterMs).toBeGreaterThan(0);
        expect(empty.retryAfterMs).toBeLessThanOrEqual(50 * (harness.timeScale ?? 1));
        await step();
        expect((await client(1).takePermits(key, { ...request, requested: 10 })).granted).toBe(2);
      });

      timed('a record written with ttlMs expires from get, list and count', async step => {
        const collection = unique('record-ttl');
        await client(0).addRecord(collection, 'keeps', 'k', { maxRecords: 10 });
        await client(0).addRecord(collection, 'expires', 'e', {
          maxRecords: 10,
          ttlMs: shortTtlMs(),
        });
        await client(1).addRecord(collection, 'removed-late', 'r', {
          maxRecords: 10,
          ttlMs: shortTtlMs(),
        });
        expect(await client(1).countRecords(collection)).toBe(3);
        expect((await client(1).getRecord(collection, 'expires'))?.value).toBe('e');
        await step();
        // Nothing has read it since it expired: removing it finds nothing to remove.
        expect(await client(0).removeRecord(collection, 'removed-late')).toBe(false);
        expect(await client(1).getRecord(collection, 'expires')).toBeUndefined();
        const listed = await client(0).listRecords(collection, { limit: 10 });
        expect(listed.map(r => r.id)).toEqual(['keeps']);
        expect(await client(1).countRecords(collection)).toBe(1);
        expect(await client(0).updateRecord(collection, 'expires', 'revived')).toBeUndefined();
      });
    });
  });
}

/**
 * Runs time-dependent scenarios concurrently so that they share each wait: a
 * step happens (one `elapse`) once every scenario still running has asked for
 * it.
 */
class Timeline {
  private running = 0;
  private waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly elapse: (ms: number) => Promise<void>,
    private readonly stepMs: number,
  ) {}

  start(
    scenarios: ReadonlyMap<string, (step: () => Promise<void>) => Promise<void>>,
  ): Map<string, Promise<void>> {
    // Count every participant before any of them can ask for a step.
    this.running = scenarios.size;
    const results = new Map<string, Promise<void>>();
    for (const [title, scenario] of scenarios) {
      results.set(
        title,
        (async () => {
          try {
            await scenario(() => this.step());
          } finally {
            this.running--;
            this.advanceIfReady();
          }
        })(),
      );
    }
    return results;
  }

  private step(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.advanceIfReady();
    });
  }

  private advanceIfReady(): void {
    if (this.waiting.length === 0 || this.waiting.length < this.running) return;
    const waiting = this.waiting;
    this.waiting = [];
    this.elapse(this.stepMs).then(
      () => waiting.forEach(w => w.resolve()),
      (error: unknown) => waiting.forEach(w => w.reject(error)),
    );
  }
}

/** Poll `condition` until it holds; fails after DELIVERY_TIMEOUT_MS with `what`. */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const attempts = DELIVERY_TIMEOUT_MS / 5;
  for (let i = 0; i < attempts; i++) {
    if (condition()) return;
    await new Promise(resolve => setTimeout(resolve, 5));
  }
  if (!condition()) throw new Error(`timed out waiting until ${what}`);
}

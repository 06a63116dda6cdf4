import { describe, expect, it } from 'vitest';
import { EventBus, type BaldurEvent } from '../../../src/core/events';
import {
  DEAD_LETTER_COLLECTION,
  DeadLetterQueue,
  DeadLetterReplayError,
  type ReplayHandler,
} from '../../../src/core/policies/dead-letter/dead-letter-queue';
import {
  StoredRecordError,
  decodeDeadLetter,
  encodeDeadLetter,
  type DeadLetterEntry,
} from '../../../src/core/policies/dead-letter/entry';
import {
  DEAD_LETTER_LIMIT_DEFAULTS,
  type DeadLetterLimits,
} from '../../../src/core/policies/dead-letter/options';
import type { StateStore } from '../../../src/core/store';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { FakeClock } from '../../support/fake-clock';

interface Setup {
  clock: FakeClock;
  store: MemoryStore;
  queue: DeadLetterQueue;
  events: BaldurEvent[];
  storeErrors: [string, unknown][];
}

function setup(limits: Partial<DeadLetterLimits> = {}, store?: StateStore): Setup {
  const clock = new FakeClock();
  const memory = new MemoryStore({ clock });
  const bus = new EventBus();
  const events: BaldurEvent[] = [];
  bus.onAny(event => events.push(event));
  const storeErrors: [string, unknown][] = [];
  const queue = new DeadLetterQueue(
    store ?? memory,
    clock,
    { ...DEAD_LETTER_LIMIT_DEFAULTS, ...limits },
    bus,
    'inst1',
    (operation, error) => storeErrors.push([operation, error]),
  );
  return { clock, store: memory, queue, events, storeErrors };
}

class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code = 'E_GATEWAY';
}

const handlers =
  (map: Record<string, ReplayHandler>) =>
  (dependency: string): ReplayHandler | undefined =>
    map[dependency];

describe('DeadLetterQueue capture', () => {
  it('stores the failed call with its arguments, error and trace', async () => {
    const { clock, queue, events } = setup();
    const id = queue.capture(
      'charge',
      ['order-1', { amount: 5 }],
      new GatewayError('gateway down'),
      'failure',
      { traceId: 't'.repeat(32), spanId: 's'.repeat(16) },
    );
    await queue.flush();
    const entry = await queue.get(id);
    expect(entry).toEqual({
      v: 1,
      id,
      dependency: 'charge',
      createdAtWallMs: clock.wallMs(),
      status: 'pending',
      reason: 'failure',
      error: { name: 'GatewayError', message: 'gateway down', code: 'E_GATEWAY' },
      args: ['order-1', { amount: 5 }],
      argsPreview: undefined,
      argsBytes: Buffer.byteLength(JSON.stringify(['order-1', { amount: 5 }])),
      replayAttempts: 0,
      lastReplayAtWallMs: undefined,
      lastReplayError: undefined,
      traceId: 't'.repeat(32),
      spanId: 's'.repeat(16),
    });
    expect(events).toContainEqual({
      type: 'dead_letter.captured',
      dependency: 'charge',
      id,
      atWallMs: clock.wallMs(),
    });
  });

  it('gives every capture a distinct id, even in the same millisecond', () => {
    const { queue } = setup();
    const ids = new Set(Array.from({ length: 50 }, () => queue.capture('d', [], 'x', 'failure')));
    expect(ids.size).toBe(50);
  });

  it('redacts sensitive keys, built-in and configured', async () => {
    const { queue } = setup({ redactKeys: [...DEAD_LETTER_LIMIT_DEFAULTS.redactKeys, 'ssn'] });
    const id = queue.capture(
      'signup',
      [{ user: 'ann', password: 'hunter2', nested: { apiKey: 'k', SSN: '123', ok: true } }],
      new Error('boom'),
      'failure',
    );
    await queue.flush();
    expect((await queue.get(id))?.args).toEqual([
      {
        user: 'ann',
        password: '[REDACTED]',
        nested: { apiKey: '[REDACTED]', SSN: '[REDACTED]', ok: true },
      },
    ]);
  });

  it('keeps only a preview of oversized arguments', async () => {
    const { queue } = setup({ maxPayloadBytes: 64 });
    const big = 'x'.repeat(500);
    const id = queue.capture('upload', [big], new Error('too slow'), 'failure');
    await queue.flush();
    const entry = (await queue.get(id))!;
    expect(entry.args).toBeUndefined();
    expect(entry.argsPreview).toBe(JSON.stringify([big]).slice(0, 64));
    expect(entry.argsBytes).toBe(JSON.stringify([big]).length);
  });

  it('describes thrown non-errors', async () => {
    const { queue } = setup();
    const id = queue.capture('d', [], 'plain string', 'rejected');
    await queue.flush();
    expect(await queue.get(id)).toMatchObject({
      reason: 'rejected',
      error: { name: 'string', message: 'plain string' },
    });
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const { queue } = setup({ maxEntries: 3 });
    const ids = Array.from({ length: 5 }, (_, i) => queue.capture('d', [i], 'x', 'failure'));
    await queue.flush();
    expect(await queue.count()).toBe(3);
    expect(await queue.get(ids[0]!)).toBeUndefined();
    expect(await queue.get(ids[1]!)).toBeUndefined();
    const listed = await queue.list();
    expect(listed.entries.map(e => e.id)).toEqual([ids[4], ids[3], ids[2]]);
  });

  it('expires entries after their ttl', async () => {
    const { clock, queue } = setup({ ttlMs: 60_000 });
    const id = queue.capture('d', [], 'x', 'failure');
    await queue.flush();
    clock.advance(59_999);
    expect(await queue.get(id)).toBeDefined();
    clock.advance(1);
    expect(await queue.get(id)).toBeUndefined();
    expect(await queue.count()).toBe(0);
  });

  it('reports a failed store write instead of throwing, and flush still settles', async () => {
    const failing = new MemoryStore();
    const broken = new Error('store down');
    failing.addRecord = () => Promise.reject(broken);
    const { queue, storeErrors } = setup({}, failing);
    expect(() => queue.capture('d', [1], 'x', 'failure')).not.toThrow();
    await queue.flush();
    expect(storeErrors).toEqual([['dead_letter.add', broken]]);
  });
});

describe('DeadLetterQueue list', () => {
  async function seeded(): Promise<{ s: Setup; ids: string[] }> {
    const s = setup();
    const ids = [
      s.queue.capture('stripe', [1], 'x', 'failure'),
      s.queue.capture('mailer', [2], 'x', 'failure'),
      s.queue.capture('stripe', [3], 'x', 'rejected'),
      s.queue.capture('mailer', [4], 'x', 'failure'),
      s.queue.capture('stripe', [5], 'x', 'failure'),
    ];
    await s.queue.flush();
    return { s, ids };
  }

  it('lists newest first', async () => {
    const { s, ids } = await seeded();
    const listed = await s.queue.list();
    expect(listed.entries.map(e => e.id)).toEqual([...ids].reverse());
    expect(listed.unreadable).toEqual([]);
    expect(listed.nextBeforeId).toBeUndefined();
  });

  it('pages with limit and nextBeforeId', async () => {
    const { s, ids } = await seeded();
    const first = await s.queue.list({ limit: 2 });
    expect(first.entries.map(e => e.id)).toEqual([ids[4], ids[3]]);
    expect(first.nextBeforeId).toBe(ids[3]);
    const second = await s.queue.list({ limit: 2, beforeId: first.nextBeforeId! });
    expect(second.entries.map(e => e.id)).toEqual([ids[2], ids[1]]);
    const third = await s.queue.list({ limit: 2, beforeId: second.nextBeforeId! });
    expect(third.entries.map(e => e.id)).toEqual([ids[0]]);
    expect(third.nextBeforeId).toBeUndefined();
  });

  it('filters by dependency, reading on past non-matching pages', async () => {
    const { s, ids } = await seeded();
    const stripe = await s.queue.list({ dependency: 'stripe', limit: 2 });
    expect(stripe.entries.map(e => e.id)).toEqual([ids[4], ids[2]]);
    const rest = await s.queue.list({
      dependency: 'stripe',
      limit: 2,
      beforeId: stripe.nextBeforeId!,
    });
    expect(rest.entries.map(e => e.id)).toEqual([ids[0]]);
    expect(rest.nextBeforeId).toBeUndefined();
  });

  it('filters by status', async () => {
    const { s, ids } = await seeded();
    await s.queue.replay(ids[1]!, handlers({ mailer: () => 'sent' }));
    const replayed = await s.queue.list({ status: 'replayed' });
    expect(replayed.entries.map(e => e.id)).toEqual([ids[1]]);
    const pendingMail = await s.queue.list({ status: 'pending', dependency: 'mailer' });
    expect(pendingMail.entries.map(e => e.id)).toEqual([ids[3]]);
  });

  it('clamps the page size to at least one entry', async () => {
    const { s, ids } = await seeded();
    const listed = await s.queue.list({ limit: 0 });
    expect(listed.entries.map(e => e.id)).toEqual([ids[4]]);
  });

  it('reports unreadable records by id, never deletes them and never throws', async () => {
    const { s, ids } = await seeded();
    const add = (id: string, value: string): Promise<void> =>
      s.store.addRecord(DEAD_LETTER_COLLECTION, id, value, { maxRecords: 100 });
    const valid = (await s.queue.get(ids[0]!))!;
    await add('garbage', '{not json');
    await add('future', JSON.stringify({ ...valid, v: 2, id: 'future' }));
    await add('broken', JSON.stringify({ ...valid, id: 'broken', status: 'exploded' }));
    await add('scalar', '42');

    const listed = await s.queue.list();
    expect(listed.entries.map(e => e.id)).toEqual([...ids].reverse());
    expect(listed.unreadable).toEqual([
      { id: 'scalar', problem: 'dead letter is not an object' },
      { id: 'broken', problem: 'dead letter field "status" is missing or malformed' },
      { id: 'future', problem: 'dead letter has unknown codec version 2' },
      { id: 'garbage', problem: 'dead letter is not valid JSON' },
    ]);
    expect(await s.queue.count()).toBe(9);
    expect((await s.store.getRecord(DEAD_LETTER_COLLECTION, 'garbage'))?.value).toBe('{not json');
    await expect(s.queue.get('future')).rejects.toBeInstanceOf(StoredRecordError);
  });

  it('removes an entry', async () => {
    const { s, ids } = await seeded();
    expect(await s.queue.remove(ids[2]!)).toBe(true);
    expect(await s.queue.remove(ids[2]!)).toBe(false);
    expect(await s.queue.get(ids[2]!)).toBeUndefined();
    expect((await s.queue.list()).entries.map(e => e.id)).not.toContain(ids[2]);
    expect(await s.queue.count()).toBe(4);
  });
});

describe('DeadLetterQueue replay', () => {
  it('replays through the handler and records success', async () => {
    const { clock, queue, events } = setup();
    const id = queue.capture('charge', ['order-1', 5], new Error('down'), 'failure');
    await queue.flush();
    clock.advance(1_000);
    const seen: [unknown[], DeadLetterEntry][] = [];
    const result = await queue.replay(
      id,
      handlers({
        charge: (args, entry) => {
          seen.push([args, entry]);
          return { ok: true };
        },
      }),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toEqual(['order-1', 5]);
    expect(seen[0]![1]).toMatchObject({ id, dependency: 'charge', status: 'pending' });
    expect(result).toMatchObject({ ok: true, value: { ok: true } });
    expect(result.entry).toMatchObject({
      status: 'replayed',
      replayAttempts: 1,
      lastReplayAtWallMs: clock.wallMs(),
    });
    expect(await queue.get(id)).toEqual(result.entry);
    expect(events).toContainEqual({
      type: 'dead_letter.replayed',
      dependency: 'charge',
      id,
      ok: true,
      atWallMs: clock.wallMs(),
    });
  });

  it('records a failed replay and allows another attempt', async () => {
    const { queue, events } = setup();
    const id = queue.capture('charge', [1], new Error('down'), 'failure');
    await queue.flush();
    const failure = new Error('still down');
    let calls = 0;
    const handler = handlers({
      charge: () => {
        calls++;
        if (calls === 1) throw failure;
        return 'finally';
      },
    });
    const first = await queue.replay(id, handler);
    expect(first).toMatchObject({ ok: false, error: failure });
    expect(await queue.get(id)).toMatchObject({
      status: 'failed',
      replayAttempts: 1,
      lastReplayError: 'still down',
    });
    expect(events.filter(e => e.type === 'dead_letter.replayed')).toMatchObject([{ ok: false }]);
    const second = await queue.replay(id, handler);
    expect(second).toMatchObject({ ok: true, value: 'finally' });
    expect(await queue.get(id)).toMatchObject({ status: 'replayed', replayAttempts: 2 });
  });

  it('awaits an async handler', async () => {
    const { queue } = setup();
    const id = queue.capture('d', [2], 'x', 'failure');
    await queue.flush();
    const result = await queue.replay(
      id,
      handlers({ d: async ([n]) => Promise.resolve((n as number) * 21) }),
    );
    expect(result.value).toBe(42);
  });

  async function replayError(
    promise: Promise<unknown>,
  ): Promise<{ reason: string; message: string }> {
    const error = await promise.then(
      () => {
        throw new Error('expected the replay to fail');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadLetterReplayError);
    const { reason, message } = error as DeadLetterReplayError;
    return { reason, message };
  }

  it('rejects an unknown id with not_found', async () => {
    const { queue } = setup();
    expect(await replayError(queue.replay('nope', handlers({})))).toEqual({
      reason: 'not_found',
      message: 'dead letter "nope" not found',
    });
  });

  it('rejects truncated arguments with truncated', async () => {
    const { queue } = setup({ maxPayloadBytes: 10 });
    const id = queue.capture('d', ['a long argument'], 'x', 'failure');
    await queue.flush();
    let called = false;
    expect(
      await replayError(
        queue.replay(
          id,
          handlers({
            d: () => {
              called = true;
            },
          }),
        ),
      ),
    ).toEqual({
      reason: 'truncated',
      message: `dead letter "${id}" has truncated arguments (19 bytes) and cannot be replayed`,
    });
    expect(called).toBe(false);
    expect((await queue.get(id))?.status).toBe('pending');
  });

  it('rejects a dependency without a handler with no_handler and leaves the entry pending', async () => {
    const { queue } = setup();
    const id = queue.capture('orphan', [], 'x', 'failure');
    await queue.flush();
    expect(await replayError(queue.replay(id, handlers({})))).toEqual({
      reason: 'no_handler',
      message: 'no replay handler for "orphan"',
    });
    expect((await queue.get(id))?.status).toBe('pending');
  });

  it('rejects a second replay while one runs with busy', async () => {
    const { queue } = setup();
    const id = queue.capture('d', [], 'x', 'failure');
    await queue.flush();
    let finish!: () => void;
    const running = queue.replay(
      id,
      handlers({ d: () => new Promise<void>(resolve => (finish = resolve)) }),
    );
    await new Promise(resolve => setImmediate(resolve));
    expect((await queue.get(id))?.status).toBe('replaying');
    expect(await replayError(queue.replay(id, handlers({ d: () => 'second' })))).toEqual({
      reason: 'busy',
      message: `dead letter "${id}" is being replayed`,
    });
    finish();
    expect((await running).ok).toBe(true);
  });

  it('lets exactly one of two simultaneous replays run the handler', async () => {
    const { queue } = setup();
    const id = queue.capture('d', [], 'x', 'failure');
    await queue.flush();
    let calls = 0;
    const handler = handlers({ d: () => ++calls });
    const outcomes = await Promise.allSettled([
      queue.replay(id, handler),
      queue.replay(id, handler),
    ]);
    expect(calls).toBe(1);
    expect(outcomes.filter(o => o.status === 'fulfilled')).toHaveLength(1);
    const rejected = outcomes.find(o => o.status === 'rejected');
    expect((rejected?.reason as DeadLetterReplayError).reason).toBe('busy');
  });

  it('rejects replaying a replayed entry with already_replayed', async () => {
    const { queue } = setup();
    const id = queue.capture('d', [], 'x', 'failure');
    await queue.flush();
    await queue.replay(id, handlers({ d: () => 1 }));
    expect(await replayError(queue.replay(id, handlers({ d: () => 2 })))).toEqual({
      reason: 'already_replayed',
      message: `dead letter "${id}" was already replayed`,
    });
  });
});

describe('dead-letter codec', () => {
  it('round-trips an entry', () => {
    const entry: DeadLetterEntry = {
      v: 1,
      id: 'a',
      dependency: 'd',
      createdAtWallMs: 5,
      status: 'failed',
      reason: 'rejected',
      error: { name: 'E', message: 'm', code: 'C' },
      args: [1, 'two'],
      argsPreview: undefined,
      argsBytes: 9,
      replayAttempts: 2,
      lastReplayAtWallMs: 7,
      lastReplayError: 'nope',
      traceId: 't',
      spanId: 's',
    };
    expect(decodeDeadLetter(encodeDeadLetter(entry))).toEqual(entry);
  });

  it.each([
    ['{', 'dead letter is not valid JSON'],
    ['[1]', 'dead letter has unknown codec version undefined'],
    ['null', 'dead letter is not an object'],
    ['{"v":"1"}', 'dead letter has unknown codec version "1"'],
    ['{"v":1,"id":"a"}', 'dead letter field "dependency" is missing or malformed'],
  ])('rejects %s with a StoredRecordError', (text, message) => {
    expect(() => decodeDeadLetter(text)).toThrow(new StoredRecordError(message));
  });
});

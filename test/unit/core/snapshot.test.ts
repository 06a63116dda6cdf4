import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_LIMIT_DEFAULTS } from '../../../src/core/policies/dead-letter/options';
import { REDACTED, snapshotArguments } from '../../../src/core/policies/dead-letter/snapshot';

const KEYS = DEAD_LETTER_LIMIT_DEFAULTS.redactKeys;
const BIG = 1_000_000;

/** The snapshot, parsed back (what a replay would receive). */
function plain(args: readonly unknown[], maxBytes = BIG, keys: readonly string[] = KEYS): unknown {
  const snapshot = snapshotArguments(args, keys, maxBytes);
  expect(snapshot.truncated).toBe(false);
  return JSON.parse(snapshot.json);
}

describe('snapshotArguments', () => {
  it('keeps plain JSON arguments as they are', () => {
    const args = ['order-1', 42, true, null, { items: [{ sku: 'a', qty: 2 }] }];
    expect(plain(args)).toEqual(args);
  });

  it('redacts sensitive keys at any depth, case-insensitively, by substring', () => {
    const args = [
      {
        user: 'ada',
        Password: 'p1',
        nested: { deeper: [{ apiKey: 'k', ACCESS_TOKEN: 't', x_Authorization_y: 'a' }] },
        headers: { Cookie: 'c', accept: 'json' },
      },
    ];
    expect(plain(args)).toEqual([
      {
        user: 'ada',
        Password: REDACTED,
        nested: {
          deeper: [{ apiKey: REDACTED, ACCESS_TOKEN: REDACTED, x_Authorization_y: REDACTED }],
        },
        headers: { Cookie: REDACTED, accept: 'json' },
      },
    ]);
  });

  it('redacts a whole sensitive subtree, and Map entries with sensitive string keys', () => {
    const args = [
      { credentials: { user: 'u', pass: 'p' } },
      new Map<unknown, unknown>([
        ['secretKey', 's'],
        ['name', 'n'],
        [7, 'seven'],
      ]),
    ];
    expect(plain(args)).toEqual([
      { credentials: REDACTED },
      [
        ['secretKey', REDACTED],
        ['name', 'n'],
        [7, 'seven'],
      ],
    ]);
  });

  it('uses the configured keys only', () => {
    expect(plain([{ password: 'p', pin: '1234' }], BIG, ['PIN'])).toEqual([
      { password: 'p', pin: REDACTED },
    ]);
  });

  it('marks cycles, but keeps shared (non-cyclic) references', () => {
    const shared = { id: 1 };
    const node: Record<string, unknown> = { name: 'root', a: shared, b: shared };
    node.self = node;
    const list: unknown[] = [1];
    list.push(list);
    expect(plain([node, list])).toEqual([
      { name: 'root', a: { id: 1 }, b: { id: 1 }, self: '[Circular]' },
      [1, '[Circular]'],
    ]);
  });

  it('caps depth', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 30; i++) deep = { d: deep };
    const text = JSON.stringify(plain([deep]));
    expect(text).toContain('[Depth]');
    expect(text).not.toContain('bottom');
    expect(text.split('"d"').length - 1).toBeLessThan(12);
  });

  it('converts what JSON cannot carry', () => {
    const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const args = [
      date,
      new Date(Number.NaN),
      Buffer.from('hi'),
      new Uint8Array([1, 2, 3]),
      12n ** 30n,
      new Set(['a', 'b']),
      new Map([['k', 1]]),
      Number.NaN,
      Number.NEGATIVE_INFINITY,
      undefined,
      () => 1,
      Symbol('s'),
      new TypeError('bad input'),
      { fn: () => 1, sym: Symbol('x'), undef: undefined, n: 1 },
    ];
    expect(plain(args)).toEqual([
      '2026-01-02T03:04:05.000Z',
      null,
      { $binary: Buffer.from('hi').toString('base64') },
      { $binary: Buffer.from([1, 2, 3]).toString('base64') },
      (12n ** 30n).toString(),
      ['a', 'b'],
      [['k', 1]],
      'NaN',
      '-Infinity',
      null,
      null,
      null,
      { name: 'TypeError', message: 'bad input' },
      { undef: null, n: 1 },
    ]);
  });

  it('skips a throwing getter instead of failing', () => {
    const tricky = {
      ok: 1,
      get boom(): never {
        throw new Error('getter');
      },
    };
    expect(plain([tricky])).toEqual([{ ok: 1 }]);
  });

  it('reports the full size and truncates beyond maxBytes', () => {
    const args = ['x'.repeat(100)];
    const full = JSON.stringify(args);
    const snapshot = snapshotArguments(args, KEYS, 50);
    expect(snapshot.truncated).toBe(true);
    expect(snapshot.bytes).toBe(Buffer.byteLength(full));
    expect(snapshot.json).toBe(full.slice(0, 50));
    const fits = snapshotArguments(args, KEYS, Buffer.byteLength(full));
    expect(fits.truncated).toBe(false);
    expect(fits.json).toBe(full);
  });

  it('a truncated preview stays within maxBytes even with multi-byte characters', () => {
    const args = ['ü'.repeat(40), '€'.repeat(40), '🙂'.repeat(40)];
    for (const maxBytes of [1, 10, 33, 64, 100, 150]) {
      const snapshot = snapshotArguments(args, KEYS, maxBytes);
      expect(snapshot.truncated).toBe(true);
      expect(Buffer.byteLength(snapshot.json)).toBeLessThanOrEqual(maxBytes);
      expect(JSON.stringify(args).startsWith(snapshot.json)).toBe(true);
    }
  });

  it('never throws, and what it returns is valid JSON unless truncated (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.anything({
            withBigInt: true,
            withBoxedValues: true,
            withDate: true,
            withMap: true,
            withSet: true,
            withNullPrototype: true,
            withObjectString: true,
            withSparseArray: true,
            withTypedArray: true,
            withUnicodeString: true,
          }),
          { maxLength: 4 },
        ),
        fc.integer({ min: 0, max: 2_000 }),
        (args, maxBytes) => {
          const snapshot = snapshotArguments(args, KEYS, maxBytes);
          expect(Buffer.byteLength(snapshot.json)).toBeLessThanOrEqual(
            snapshot.truncated ? maxBytes : snapshot.bytes,
          );
          if (!snapshot.truncated) {
            const parsed: unknown = JSON.parse(snapshot.json);
            expect(Array.isArray(parsed)).toBe(true);
            expect((parsed as unknown[]).length).toBe(args.length);
          }
        },
      ),
      { seed: 31337, numRuns: 1_000 },
    );
  });
});

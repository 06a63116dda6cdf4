import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/config/duration';
import { formatMs } from '../../../src/config/schema-dsl';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['100', 100],
    [' 5s ', 5_000],
    ['10 ms', 10],
    [100, 100],
    [0, 0],
    [12.5, 12.5],
  ])('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['-1s'],
    ['-5'],
    [-5],
    ['5 parsecs'],
    ['1d'],
    [''],
    ['s'],
    ['1e3'],
    ['five seconds'],
    [Infinity],
    [NaN],
    [null],
    [undefined],
    [true],
    [{ ms: 5 }],
  ])('rejects %j', input => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('reads any whole amount in every unit exactly', () => {
    const units = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])),
        (amount, unit) => {
          expect(parseDuration(`${amount}${unit}`)).toBe(amount * units[unit]);
        },
      ),
    );
  });

  it('round-trips the formatted form used in messages and docs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 24 * 3_600_000 }), ms => {
        expect(parseDuration(formatMs(ms))).toBe(ms);
      }),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitOpenError, TimeoutError } from '../../../src/core/errors';
import {
  defaultClassifier,
  isBackoffStatus,
  isFailureStatus,
  isRetryableByDefault,
} from '../../../src/core/outcome';
import {
  parseRetryAfter,
  parseRetryAfterMs,
  retryAfterFromHeaders,
} from '../../../src/core/retry-after';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const DAY_MS = 24 * 60 * 60 * 1000;

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 7 ', 7_000],
    ['1.5', 1_500],
    ['0.0001', 1], // rounded up: never "retry sooner than asked"
  ])('delta-seconds %j → %i ms', (text, expected) => {
    expect(parseRetryAfter(text, NOW)).toBe(expected);
  });

  it('accepts numbers as seconds', () => {
    expect(parseRetryAfter(3, NOW)).toBe(3_000);
  });

  it('reads HTTP dates relative to now', () => {
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', NOW)).toBe(30_000);
  });

  it('an HTTP date in the past means "now"', () => {
    expect(parseRetryAfter('Wed, 31 Dec 2025 12:00:00 GMT', NOW)).toBe(0);
  });

  it('caps hints at one day', () => {
    expect(parseRetryAfter('999999999', NOW)).toBe(DAY_MS);
    expect(parseRetryAfter(new Date(NOW + 3 * DAY_MS).toUTCString(), NOW)).toBe(DAY_MS);
  });

  it.each([
    [''],
    ['   '],
    ['soon'],
    ['1e3'],
    ['0x10'],
    ['Infinity'],
    ['12abc'],
    ['-5'],
    ['+5'],
    ['1,5'],
    ['5 apples'],
  ])('garbage %j means no hint', text => {
    expect(parseRetryAfter(text, NOW)).toBeUndefined();
  });

  it('negative, non-finite numbers and other types mean no hint', () => {
    expect(parseRetryAfter(-2, NOW)).toBeUndefined();
    expect(parseRetryAfter(Number.NaN, NOW)).toBeUndefined();
    expect(parseRetryAfter(Number.POSITIVE_INFINITY, NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter({}, NOW)).toBeUndefined();
  });

  it('never throws and yields a whole number of ms in [0, 1 day] or undefined (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.anything()), value => {
        const hint = parseRetryAfter(value, NOW);
        return hint === undefined || (Number.isInteger(hint) && hint >= 0 && hint <= DAY_MS);
      }),
      { seed: 5, numRuns: 2_000 },
    );
  });
});

describe('parseRetryAfterMs', () => {
  it('reads milliseconds', () => {
    expect(parseRetryAfterMs('250')).toBe(250);
    expect(parseRetryAfterMs(' 12.2 ')).toBe(13);
    expect(parseRetryAfterMs(40)).toBe(40);
  });

  it('rejects garbage', () => {
    for (const value of ['', 'abc', '-1', '1s', -1, undefined, null, Number.NaN]) {
      expect(parseRetryAfterMs(value)).toBeUndefined();
    }
  });
});

describe('retryAfterFromHeaders', () => {
  it('prefers retry-after-ms over retry-after', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': '1500', 'retry-after': '9' }, NOW)).toBe(
      1_500,
    );
  });

  it('falls back to retry-after when retry-after-ms is garbage', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': 'x', 'retry-after': '9' }, NOW)).toBe(9_000);
  });

  it('reads a Headers instance (case-insensitive by nature)', () => {
    expect(retryAfterFromHeaders(new Headers({ 'Retry-After': '4' }), NOW)).toBe(4_000);
    expect(retryAfterFromHeaders(new Headers({ 'Retry-After-Ms': '40' }), NOW)).toBe(40);
    expect(retryAfterFromHeaders(new Headers(), NOW)).toBeUndefined();
  });

  it('reads the first value of a repeated header (node IncomingMessage style)', () => {
    expect(retryAfterFromHeaders({ 'retry-after': ['3', '8'] }, NOW)).toBe(3_000);
  });

  it('no headers, no hint', () => {
    expect(retryAfterFromHeaders(undefined, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders('retry-after: 5', NOW)).toBeUndefined();
    expect(retryAfterFromHeaders({}, NOW)).toBeUndefined();
  });
});

/** A fetch Response look-alike with the given status and headers. */
const response = (status: number, headers: Record<string, string> = {}) =>
  new Response(null, { status, headers });

describe('defaultClassifier', () => {
  it.each([
    [200, 'success'],
    [204, 'success'],
    [301, 'success'],
    [400, 'success'],
    [404, 'success'],
    [408, 'failure'],
    [429, 'failure'],
    [500, 'failure'],
    [503, 'failure'],
    [599, 'failure'],
  ])('a returned fetch Response with status %i is a %s', (status, verdict) => {
    expect(defaultClassifier.classifyResult(response(status))).toBe(verdict);
  });

  it('non-response values are successes', () => {
    for (const value of [undefined, null, 0, 'x', { status: 500 }, { ok: false }]) {
      expect(defaultClassifier.classifyResult(value)).toBe('success');
    }
    // A look-alike with numeric status and boolean ok counts as a response.
    expect(defaultClassifier.classifyResult({ status: 502, ok: false })).toBe('failure');
  });

  it('thrown errors are failures, except an AbortError which is neutral', () => {
    expect(defaultClassifier.classifyError(new Error('boom'))).toBe('failure');
    expect(defaultClassifier.classifyError('a string')).toBe('failure');
    expect(defaultClassifier.classifyError(new TimeoutError('dep', 10, 'attempt'))).toBe('failure');
    expect(defaultClassifier.classifyError(new DOMException('stop', 'AbortError'))).toBe('neutral');
    const controller = new AbortController();
    controller.abort();
    expect(defaultClassifier.classifyError(controller.signal.reason)).toBe('neutral');
    expect(
      defaultClassifier.classifyError(Object.assign(new Error('x'), { name: 'AbortError' })),
    ).toBe('neutral');
  });

  it('reads Retry-After from a returned 429/503 response only', () => {
    expect(defaultClassifier.retryAfterMs(response(429, { 'Retry-After': '2' }), false, NOW)).toBe(
      2_000,
    );
    expect(
      defaultClassifier.retryAfterMs(response(503, { 'retry-after-ms': '150' }), false, NOW),
    ).toBe(150);
    expect(
      defaultClassifier.retryAfterMs(response(500, { 'Retry-After': '2' }), false, NOW),
    ).toBeUndefined();
    expect(defaultClassifier.retryAfterMs(response(429), false, NOW)).toBeUndefined();
    expect(defaultClassifier.retryAfterMs('plain value', false, NOW)).toBeUndefined();
  });

  it('reads Retry-After from a thrown error: retryAfterMs, then error.response.headers', () => {
    const carried = Object.assign(new Error('slow down'), { retryAfterMs: 700 });
    expect(defaultClassifier.retryAfterMs(carried, true, NOW)).toBe(700);
    const withRecord = Object.assign(new Error('429'), {
      response: { status: 429, ok: false, headers: { 'retry-after': '3' } },
    });
    expect(defaultClassifier.retryAfterMs(withRecord, true, NOW)).toBe(3_000);
    const withHeaders = Object.assign(new Error('503'), {
      response: response(503, { 'Retry-After': new Date(NOW + 5_000).toUTCString() }),
    });
    expect(defaultClassifier.retryAfterMs(withHeaders, true, NOW)).toBe(5_000);
  });

  it('ignores Retry-After on errors that are not a back-off', () => {
    const on500 = Object.assign(new Error('500'), {
      response: { status: 500, ok: false, headers: { 'retry-after': '3' } },
    });
    expect(defaultClassifier.retryAfterMs(on500, true, NOW)).toBeUndefined();
    const badCarried = Object.assign(new Error('x'), { retryAfterMs: -1 });
    expect(defaultClassifier.retryAfterMs(badCarried, true, NOW)).toBeUndefined();
    expect(defaultClassifier.retryAfterMs('boom', true, NOW)).toBeUndefined();
    expect(defaultClassifier.retryAfterMs(null, true, NOW)).toBeUndefined();
  });

  it('never takes a Baldur rejection’s retryAfterMs as a server hint', () => {
    const open = new CircuitOpenError('dep', 30_000, 'open');
    expect(open.retryAfterMs).toBe(30_000);
    expect(defaultClassifier.retryAfterMs(open, true, NOW)).toBeUndefined();
  });
});

describe('status helpers and the default retry predicate', () => {
  it('failure and back-off statuses', () => {
    expect([200, 404, 408, 429, 500].map(isFailureStatus)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    expect([429, 503, 500, 408].map(isBackoffStatus)).toEqual([true, true, false, false]);
  });

  it('retries ordinary failures and attempt timeouts, never other Baldur rejections', () => {
    expect(isRetryableByDefault({ ok: false, error: new Error('x') })).toBe(true);
    expect(isRetryableByDefault({ ok: true, value: response(503) })).toBe(true);
    expect(isRetryableByDefault({ ok: false, error: new TimeoutError('d', 1, 'attempt') })).toBe(
      true,
    );
    expect(isRetryableByDefault({ ok: false, error: new TimeoutError('d', 1, 'total') })).toBe(
      false,
    );
    expect(isRetryableByDefault({ ok: false, error: new CircuitOpenError('d', 1, 'open') })).toBe(
      false,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { findDependency, globMatches, matches } from '../../../src/config/match';
import type { DependencyInput } from '../../../src/config/schema';

describe('globMatches', () => {
  it.each([
    ['api.stripe.com', 'api.stripe.com', true],
    ['api.stripe.com', 'API.Stripe.COM', true],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'api.example.com.evil.net', false],
    ['/v1/*', '/v1/orders/17', true],
    ['/v1/*', '/v2/orders', false],
    ['/v1/*/items', '/v1/orders/items', true],
    ['*', '', true],
    ['*', 'anything at all', true],
    ['db-*', 'db-replica-2', true],
  ])('%s against %j → %s', (pattern, value, expected) => {
    expect(globMatches(pattern, value)).toBe(expected);
  });

  it('treats every character other than * literally', () => {
    expect(globMatches('a.b', 'axb')).toBe(false);
    expect(globMatches('a.b', 'a.b')).toBe(true);
    expect(globMatches('(x)+[y]?', '(x)+[y]?')).toBe(true);
    expect(globMatches('(x)+[y]?', 'xxy')).toBe(false);
    expect(globMatches('/orders/$id', '/orders/$id')).toBe(true);
    expect(globMatches('^a|b', 'b')).toBe(false);
  });
});

describe('matches', () => {
  const call = {
    name: 'http:api.stripe.com:443',
    system: 'http',
    host: 'api.stripe.com',
    port: 443,
    method: 'POST',
    path: '/v1/charges',
  };

  it('requires every named field to match', () => {
    expect(matches({ system: 'http', host: 'api.stripe.com' }, call)).toBe(true);
    expect(matches({ system: 'http', host: '*.stripe.com', port: 443 }, call)).toBe(true);
    expect(matches({ system: 'http', host: 'api.stripe.com', port: 80 }, call)).toBe(false);
    expect(matches({ system: 'postgresql', host: 'api.stripe.com' }, call)).toBe(false);
    expect(matches({ method: 'post', path: '/v1/*' }, call)).toBe(true);
    expect(matches({ method: 'GET', path: '/v1/*' }, call)).toBe(false);
  });

  it('matches a protect() name or a dependency key by name', () => {
    expect(matches({ name: 'charge-customer' }, { name: 'charge-customer' })).toBe(true);
    expect(matches({ name: 'http:*.stripe.com:*' }, call)).toBe(true);
    expect(matches({ name: 'charge' }, { name: 'charge-customer' })).toBe(false);
  });

  it('never matches a field the call does not have', () => {
    expect(matches({ database: 'orders' }, call)).toBe(false);
    expect(matches({ database: '*' }, call)).toBe(false);
    expect(matches({ port: 443 }, { name: 'x' })).toBe(false);
  });

  it('matches nothing when the entry names nothing', () => {
    expect(matches({}, call)).toBe(false);
    expect(matches({}, {})).toBe(false);
  });
});

describe('findDependency', () => {
  const entries: DependencyInput[] = [
    { match: {}, name: 'matches-nothing' },
    { match: { system: 'http', host: 'api.stripe.com' }, name: 'stripe' },
    { match: { system: 'http', host: '*.stripe.com' }, name: 'stripe-other' },
    { match: { system: 'postgresql', database: 'orders' }, name: 'orders-db' },
  ];

  it('returns the first entry that matches', () => {
    expect(findDependency(entries, { system: 'http', host: 'api.stripe.com' })?.name).toBe(
      'stripe',
    );
    expect(findDependency(entries, { system: 'http', host: 'files.stripe.com' })?.name).toBe(
      'stripe-other',
    );
    expect(
      findDependency(entries, { system: 'postgresql', host: 'db', port: 5432, database: 'orders' })
        ?.name,
    ).toBe('orders-db');
  });

  it('returns undefined when nothing matches', () => {
    expect(findDependency(entries, { system: 'http', host: 'example.com' })).toBeUndefined();
    expect(findDependency([], { name: 'x' })).toBeUndefined();
  });
});

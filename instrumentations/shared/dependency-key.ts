import type { DependencyDescriptor } from '../../src/config/match';

/**
 * The default dependency key of SPEC §4: `<system>:<host>:<port>` plus
 * `/<database>` for databases, e.g. `http:api.stripe.com:443`,
 * `postgresql:db:5432/orders`, `redis:cache:6379/0`. Hosts are lower-cased so
 * one dependency never splits into two breakers by spelling.
 */
export function dependencyKey(descriptor: DependencyDescriptor): string {
  const host = (descriptor.host ?? 'localhost').toLowerCase();
  const base = `${descriptor.system ?? 'unknown'}:${host}:${descriptor.port ?? 0}`;
  return descriptor.database === undefined || descriptor.database === ''
    ? base
    : `${base}/${descriptor.database}`;
}

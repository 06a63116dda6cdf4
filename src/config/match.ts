import type { DependencyInput, MatchInput } from './schema';

/** What is known about a call when choosing its dependency entry. */
export interface DependencyDescriptor {
  readonly name?: string | undefined;
  readonly system?: string | undefined;
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly database?: string | undefined;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
}

const globCache = new Map<string, RegExp>();

/** `*` matches any run of characters; everything else is literal. Case-insensitive (hosts, methods). */
export function globMatches(pattern: string, value: string): boolean {
  let regex = globCache.get(pattern);
  if (regex === undefined) {
    const source = pattern
      .split('*')
      .map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    regex = new RegExp(`^${source}$`, 'i');
    globCache.set(pattern, regex);
  }
  return regex.test(value);
}

/** Every field the entry names must match; an entry naming nothing matches nothing. */
export function matches(match: MatchInput, call: DependencyDescriptor): boolean {
  let named = false;
  const check = (pattern: string | undefined, value: string | undefined): boolean => {
    if (pattern === undefined) return true;
    named = true;
    return value !== undefined && globMatches(pattern, value);
  };
  const ok =
    check(match.name, call.name) &&
    check(match.system, call.system) &&
    check(match.host, call.host) &&
    check(match.database, call.database) &&
    check(match.method, call.method) &&
    check(match.path, call.path) &&
    check(
      match.port === undefined ? undefined : String(match.port),
      call.port === undefined ? undefined : String(call.port),
    );
  return named && ok;
}

/** The first entry whose `match` fits, as the configuration reference promises (first match wins). */
export function findDependency(
  dependencies: readonly DependencyInput[],
  call: DependencyDescriptor,
): DependencyInput | undefined {
  return dependencies.find(entry => matches(entry.match, call));
}

/** Like `findDependency`, with the entry's position (used to key per-route entries). */
export function findDependencyIndex(
  dependencies: readonly DependencyInput[],
  call: DependencyDescriptor,
): number {
  return dependencies.findIndex(entry => matches(entry.match, call));
}

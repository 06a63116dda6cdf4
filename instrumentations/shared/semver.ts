/**
 * Just enough semver for version ranges of patched libraries: comparators
 * (`>=`, `>`, `<=`, `<`, `=`) joined by spaces (AND) and `||` (OR), over
 * `major.minor.patch` versions (pre-release tags compare as their release).
 */
type Version = readonly [number, number, number];

function parseVersion(text: string): Version | undefined {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.trim());
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function satisfiesComparator(version: Version, comparator: string): boolean {
  const match = /^(>=|<=|>|<|=)?\s*(.+)$/.exec(comparator);
  if (match === null) return false;
  const bound = parseVersion(match[2]!);
  if (bound === undefined) return false;
  const c = compare(version, bound);
  switch (match[1] ?? '=') {
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    case '<':
      return c < 0;
    default:
      return c === 0;
  }
}

export function satisfies(versionText: string, range: string): boolean {
  const version = parseVersion(versionText);
  if (version === undefined) return false;
  return range.split('||').some(alternative =>
    alternative
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .every(comparator => satisfiesComparator(version, comparator)),
  );
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * "250ms", "5s", "1.5s", "1m", "1h" or a plain number of milliseconds (number
 * or numeric string). Anything else — negative, empty, unknown unit — is
 * `undefined`, and the caller reports it.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] ?? 'ms';
  return Math.round(amount * UNITS_MS[unit]!);
}

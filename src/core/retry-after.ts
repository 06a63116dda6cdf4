/**
 * Parsing of server back-off hints. Accepts `Retry-After` as delta-seconds or an
 * HTTP date, and `retry-after-ms` as milliseconds. Garbage, negative and
 * non-finite values mean "no hint"; hints are capped at one day.
 */
const MAX_HINT_MS = 24 * 60 * 60 * 1000;

export function parseRetryAfter(value: unknown, nowWallMs: number): number | undefined {
  if (typeof value === 'number') return value < 0 ? undefined : clampHint(value * 1000);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return clampHint(Number(text) * 1000);
  // Dates name a day or month; Date.parse would also read "-5" or "1,5" as dates in 2001.
  if (!/[a-z]/i.test(text)) return undefined;
  const dateMs = Date.parse(text);
  if (Number.isNaN(dateMs)) return undefined;
  return clampHint(dateMs - nowWallMs);
}

export function parseRetryAfterMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value < 0 ? undefined : clampHint(value);
  if (typeof value !== 'string' || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return clampHint(Number(value));
}

function clampHint(ms: number): number | undefined {
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.ceil(ms)), MAX_HINT_MS);
}

type HeaderBag = { get(name: string): string | null } | Record<string, unknown>;

/** Reads `retry-after-ms` (preferred, more precise) or `retry-after` from a headers object or Headers instance. */
export function retryAfterFromHeaders(headers: unknown, nowWallMs: number): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const bag = headers as HeaderBag;
  const read = (name: string): unknown =>
    typeof bag.get === 'function'
      ? (bag as { get(name: string): string | null }).get(name)
      : readPlain(bag, name);
  const ms = parseRetryAfterMs(firstValue(read('retry-after-ms')));
  if (ms !== undefined) return ms;
  return parseRetryAfter(firstValue(read('retry-after')), nowWallMs);
}

function firstValue(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : (value ?? undefined);
}

/** Plain header objects: Node lower-cases names, but hand-built ones may say `Retry-After`. */
function readPlain(bag: Record<string, unknown>, name: string): unknown {
  if (name in bag) return bag[name];
  for (const key of Object.keys(bag)) if (key.toLowerCase() === name) return bag[key];
  return undefined;
}

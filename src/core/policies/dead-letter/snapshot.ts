/**
 * Turns call arguments into a JSON-safe, redacted, bounded snapshot. Replay
 * needs the arguments back, so the snapshot keeps what JSON can carry (Dates
 * become ISO strings, Buffers base64, Maps and Sets arrays) and marks what it
 * had to drop. Cycles and depth are bounded; nothing here can throw.
 */
export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 12;

export interface ArgumentSnapshot {
  /** The arguments as JSON text, or a truncated preview of it. */
  readonly json: string;
  readonly truncated: boolean;
  /** Bytes of the full serialized arguments. */
  readonly bytes: number;
}

export function snapshotArguments(
  args: readonly unknown[],
  redactKeys: readonly string[],
  maxBytes: number,
): ArgumentSnapshot {
  const lowered = redactKeys.map(k => k.toLowerCase());
  const seen = new WeakSet<object>();
  const plain = toPlain(args, lowered, seen, 0);
  const json = JSON.stringify(plain) ?? 'null';
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return { json, truncated: false, bytes };
  return { json: utf8Prefix(json, maxBytes), truncated: true, bytes };
}

/** The longest prefix of `text` within `maxBytes` of UTF-8 (not UTF-16 units), on a character boundary. */
function utf8Prefix(text: string, maxBytes: number): string {
  const encoded = Buffer.from(text);
  let end = Math.max(0, Math.min(maxBytes, encoded.length));
  while (end > 0 && end < encoded.length && (encoded[end]! & 0xc0) === 0x80) end--; // continuation byte
  return encoded.toString('utf8', 0, end);
}

function isSensitive(key: string, lowered: readonly string[]): boolean {
  const k = key.toLowerCase();
  return lowered.some(fragment => k.includes(fragment));
}

function toPlain(
  value: unknown,
  lowered: readonly string[],
  seen: WeakSet<object>,
  depth: number,
): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
      return null;
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      break;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return '[Depth]';
  const object = value;
  if (seen.has(object)) return '[Circular]';
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? null : object.toISOString();
  if (Buffer.isBuffer(object) || object instanceof Uint8Array) {
    return { $binary: Buffer.from(object as Uint8Array).toString('base64') };
  }
  seen.add(object);
  try {
    if (Array.isArray(object))
      return object.map(item => toPlain(item, lowered, seen, depth + 1) ?? null);
    if (object instanceof Map) {
      return [...object.entries()].map(([k, v]) => [
        toPlain(k, lowered, seen, depth + 1),
        typeof k === 'string' && isSensitive(k, lowered)
          ? REDACTED
          : toPlain(v, lowered, seen, depth + 1),
      ]);
    }
    if (object instanceof Set)
      return [...object].map(item => toPlain(item, lowered, seen, depth + 1));
    if (object instanceof Error) return { name: object.name, message: object.message };
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      let item: unknown;
      try {
        item = (object as Record<string, unknown>)[key];
      } catch {
        continue; // a throwing getter is skipped, not fatal
      }
      if (isSensitive(key, lowered)) out[key] = REDACTED;
      else {
        const plain = toPlain(item, lowered, seen, depth + 1);
        if (plain !== undefined) out[key] = plain;
      }
    }
    return out;
  } finally {
    seen.delete(object);
  }
}

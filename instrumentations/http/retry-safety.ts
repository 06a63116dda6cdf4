/**
 * Which HTTP requests may be sent again (RFC 9110 §9.2.2): idempotent methods,
 * or any request carrying an `Idempotency-Key` header. Whether the body can be
 * replayed is decided by each client (node:http: no body was written; undici:
 * the body is a string or bytes, never a stream).
 */
export function isIdempotentMethod(method: string): boolean {
  // A switch over literals: method names are interned, so this is a few pointer compares.
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}

/**
 * Whether `headers` (a plain object, a flat `[name, value, …]` array, an array
 * of pairs, or an iterable/Headers) names a header `lowerName`.
 */
export function hasHeader(headers: unknown, lowerName: string): boolean {
  if (headers === null || headers === undefined || typeof headers !== 'object') return false;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i++) {
      const item: unknown = headers[i];
      if (Array.isArray(item)) {
        if (String(item[0]).toLowerCase() === lowerName) return true;
      } else if (i % 2 === 0 && String(item).toLowerCase() === lowerName) {
        return true;
      }
    }
    return false;
  }
  const maybeHas = (headers as { has?: unknown }).has;
  if (typeof maybeHas === 'function') {
    try {
      return (maybeHas as (name: string) => boolean).call(headers, lowerName);
    } catch {
      return false;
    }
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const entry of headers as Iterable<unknown>) {
      if (Array.isArray(entry) && String(entry[0]).toLowerCase() === lowerName) return true;
    }
    return false;
  }
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lowerName) return true;
  return false;
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** Method-level safety: idempotent, or made idempotent by the caller with an Idempotency-Key. */
export function isRetrySafeRequest(method: string, headers: unknown): boolean {
  return isIdempotentMethod(method) || hasHeader(headers, IDEMPOTENCY_KEY_HEADER);
}

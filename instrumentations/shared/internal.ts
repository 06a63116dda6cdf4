/**
 * Marks clients and requests that belong to the agent itself (its state store,
 * its exporters). Instrumentations skip them, so the agent never polices or
 * instruments its own traffic — and never recurses into its own store during an
 * outage. Checking a symbol property costs one load per call.
 */
const kInternal = Symbol.for('baldur.internal.v1');

export function markInternal<T extends object>(target: T): T {
  Object.defineProperty(target, kInternal, { value: true, enumerable: false });
  return target;
}

export function isInternal(target: unknown): boolean {
  return (
    typeof target === 'object' &&
    target !== null &&
    (target as Record<symbol, unknown>)[kInternal] === true
  );
}

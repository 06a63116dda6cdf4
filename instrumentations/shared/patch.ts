/**
 * Patching exactly once, reversibly, and without fighting other instrumentations.
 *
 * Our wrappers carry a private symbol that points at what they wrapped; they
 * never carry shimmer's `__wrapped`/`__original`/`__unwrap` markers, because
 * OpenTelemetry's `_wrap` *unwraps* anything so marked before wrapping it again
 * and would silently remove us. Before wrapping, the chain of wrappers is walked
 * (ours through the symbol, shimmer's through `__original`): if a Baldur wrapper
 * is already in it — from an earlier hook, another copy of this package or a
 * second load path of the library — nothing is wrapped again, so retries can
 * never multiply (3 × 3 = 9 attempts).
 */
const kBaldurWrapped = Symbol.for('baldur.wrapped.v1');

type AnyFunction = (this: unknown, ...args: never[]) => unknown;

interface Marked {
  [kBaldurWrapped]?: AnyFunction;
  __original?: unknown;
}

/** Whether `fn`, or anything it wraps, is a Baldur wrapper. */
export function isBaldurWrapped(fn: unknown): boolean {
  let current = fn;
  for (let depth = 0; depth < 32 && typeof current === 'function'; depth++) {
    const marked = current as Marked;
    if (marked[kBaldurWrapped] !== undefined) return true;
    current = marked.__original;
  }
  return false;
}

/**
 * Replace `target[name]` with `makeWrapper(original)`. Returns false (and
 * changes nothing) when the property is not a function or is already ours.
 * The wrapper keeps the original's name and length, so code that inspects
 * them sees no difference.
 */
export function wrapMethod<T extends object>(
  target: T,
  name: keyof T & string,
  makeWrapper: (original: AnyFunction) => AnyFunction,
): boolean {
  const original = (target as Record<string, unknown>)[name];
  if (typeof original !== 'function' || isBaldurWrapped(original)) return false;
  const wrapper = makeWrapper(original as AnyFunction);
  Object.defineProperty(wrapper, kBaldurWrapped, { value: original, enumerable: false });
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  Object.defineProperty(target, name, {
    value: wrapper,
    writable: true,
    configurable: true,
    enumerable: descriptor?.enumerable ?? false,
  });
  return true;
}

/**
 * Remove our wrapper from `target[name]`, wherever it sits in the chain: if
 * another instrumentation wrapped ours, its `__original` is re-pointed past us.
 */
export function unwrapMethod<T extends object>(target: T, name: keyof T & string): boolean {
  let holder: Marked | undefined;
  let current = (target as Record<string, unknown>)[name];
  for (let depth = 0; depth < 32 && typeof current === 'function'; depth++) {
    const marked = current as Marked;
    const inner = marked[kBaldurWrapped];
    if (inner !== undefined) {
      if (holder === undefined) (target as Record<string, unknown>)[name] = inner;
      else holder.__original = inner;
      return true;
    }
    holder = marked;
    current = marked.__original;
  }
  return false;
}

/** The function our wrapper wraps (for tests and diagnostics). */
export function originalOf(fn: unknown): unknown {
  return typeof fn === 'function' ? (fn as Marked)[kBaldurWrapped] : undefined;
}

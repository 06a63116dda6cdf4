/** A zero-argument async operation under measurement. */
export type Op = () => Promise<unknown>;

/** Runs `op` `iterations` times, awaiting each call. */
export type Loop = (op: Op, iterations: number) => Promise<void>;

/**
 * A loop compiled separately per variant (its own feedback vector), so each
 * call site stays monomorphic and one variant's types cannot slow another's.
 * It yields to the event loop every 1,024 calls, identically for all variants.
 */
export function compileLoop(): Loop {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- separate feedback vector per variant
  return new Function(
    'op',
    'n',
    `return (async () => {
      for (let i = 0; i < n; i++) {
        await op();
        if ((i & 1023) === 0) await new Promise(resolve => setImmediate(resolve));
      }
    })();`,
  ) as Loop;
}

/** The trivial async callee every per-call benchmark wraps. */
// eslint-disable-next-line @typescript-eslint/require-await -- the trivial async callee being measured
export const trivialCall = async (): Promise<number> => 1;

/**
 * Nanoseconds per call of `op` over `iterations` calls. A full GC before each
 * sample (when `--expose-gc` is given) keeps one variant's garbage off the next
 * one's clock; an untimed run afterwards lets the variant re-warm what the GC
 * evicted before timing starts. That includes optimized code: with no call in
 * flight, the GC frees the hidden classes of per-call objects, which
 * deoptimizes every function that builds them (V8 "weak objects"), for every
 * library alike; 5,000 calls proved too few to re-optimize, 20,000 are enough.
 * Every per-call suite measures this way.
 */
export async function timePerCall(loop: Loop, op: Op, iterations: number): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  await loop(op, Math.min(iterations, 20_000));
  const start = process.hrtime.bigint();
  await loop(op, iterations);
  return Number(process.hrtime.bigint() - start) / iterations;
}

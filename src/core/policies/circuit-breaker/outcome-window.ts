/** Bits per word: 30 keeps every word a small integer in V8 (no heap numbers). */
const BITS = 30;

/**
 * Count-based sliding window over the last `size` outcomes, with running totals.
 *
 * The state lives in fields of its owner (the circuit breaker) rather than in an
 * object of its own, and the functions below work on it: one object header and
 * one pointer less per dependency, which keeps ten thousand idle breakers within
 * two megabytes. Bitsets are allocated on the first failure (or slow call), so a
 * window that has only seen successes costs a handful of small integers.
 */
export interface OutcomeWindow {
  /** Outcomes in the window (at most `size`). */
  windowCount: number;
  windowFailures: number;
  windowSlows: number;
  /** Where the next outcome goes. */
  windowPosition: number;
  failureBits: number[] | undefined;
  slowBits: number[] | undefined;
}

/** An empty window (for owners that are not breakers, such as tests). */
export function emptyOutcomeWindow(): OutcomeWindow {
  return {
    windowCount: 0,
    windowFailures: 0,
    windowSlows: 0,
    windowPosition: 0,
    failureBits: undefined,
    slowBits: undefined,
  };
}

/** Add an outcome, evicting the oldest once the window holds `size`. */
export function recordOutcome(
  window: OutcomeWindow,
  size: number,
  failed: boolean,
  slow: boolean,
): void {
  const position = window.windowPosition;
  const word = (position / BITS) | 0;
  const mask = 1 << (position % BITS);
  if (window.windowCount === size) {
    if (window.failureBits !== undefined && (window.failureBits[word]! & mask) !== 0)
      window.windowFailures--;
    if (window.slowBits !== undefined && (window.slowBits[word]! & mask) !== 0)
      window.windowSlows--;
  } else {
    window.windowCount++;
  }
  if (failed) {
    window.failureBits ??= zeroWords(size);
    window.failureBits[word]! |= mask;
    window.windowFailures++;
  } else if (window.failureBits !== undefined) {
    window.failureBits[word]! &= ~mask;
  }
  if (slow) {
    window.slowBits ??= zeroWords(size);
    window.slowBits[word]! |= mask;
    window.windowSlows++;
  } else if (window.slowBits !== undefined) {
    window.slowBits[word]! &= ~mask;
  }
  window.windowPosition = position + 1 === size ? 0 : position + 1;
}

export function resetOutcomes(window: OutcomeWindow): void {
  window.windowCount = window.windowFailures = window.windowSlows = window.windowPosition = 0;
  window.failureBits = window.slowBits = undefined;
}

function zeroWords(size: number): number[] {
  return new Array<number>(Math.ceil(size / BITS)).fill(0);
}

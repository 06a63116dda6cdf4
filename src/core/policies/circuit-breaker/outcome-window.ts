/** Bits per word: 30 keeps every word a small integer in V8 (no heap numbers). */
const BITS = 30;

/**
 * Count-based sliding window over the last `size` outcomes with running totals.
 * Bitsets are allocated on the first failure (or slow call): a window that has
 * only seen successes costs a handful of numbers, which keeps ten thousand idle
 * breakers within a couple of megabytes.
 */
export class OutcomeWindow {
  count = 0;
  failures = 0;
  slows = 0;
  private position = 0;
  private failureBits: number[] | undefined = undefined;
  private slowBits: number[] | undefined = undefined;

  constructor(private readonly size: number) {}

  record(failed: boolean, slow: boolean): void {
    const position = this.position;
    const word = (position / BITS) | 0;
    const mask = 1 << (position % BITS);
    if (this.count === this.size) {
      if (this.failureBits !== undefined && (this.failureBits[word]! & mask) !== 0) this.failures--;
      if (this.slowBits !== undefined && (this.slowBits[word]! & mask) !== 0) this.slows--;
    } else {
      this.count++;
    }
    if (failed) {
      this.failureBits ??= this.zeroWords();
      this.failureBits[word]! |= mask;
      this.failures++;
    } else if (this.failureBits !== undefined) {
      this.failureBits[word]! &= ~mask;
    }
    if (slow) {
      this.slowBits ??= this.zeroWords();
      this.slowBits[word]! |= mask;
      this.slows++;
    } else if (this.slowBits !== undefined) {
      this.slowBits[word]! &= ~mask;
    }
    this.position = position + 1 === this.size ? 0 : position + 1;
  }

  reset(): void {
    this.count = this.failures = this.slows = this.position = 0;
    this.failureBits = this.slowBits = undefined;
  }

  private zeroWords(): number[] {
    return new Array<number>(Math.ceil(this.size / BITS)).fill(0);
  }
}

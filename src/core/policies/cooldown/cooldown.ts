/**
 * A dependency-wide "back off until" set by a 429/503 with Retry-After. It only
 * ever extends: a shorter hint arriving later (or from a peer) cannot cut an
 * honoured one short.
 */
export class Cooldown {
  /** Monotonic time until which callers are turned away; 0 when none. */
  private untilMs = 0;

  /** Whether a cooldown was ever installed and may still be running (a field read, no clock). */
  get active(): boolean {
    return this.untilMs !== 0;
  }

  /** Extend to `untilMs` if that is later; returns whether it changed. */
  extendTo(untilMs: number): boolean {
    if (untilMs <= this.untilMs) return false;
    this.untilMs = untilMs;
    return true;
  }

  /** Time left; clears an expired cooldown so later calls skip the clock read. */
  remainingMs(nowMs: number): number {
    if (this.untilMs > nowMs) return this.untilMs - nowMs;
    this.untilMs = 0;
    return 0;
  }
}

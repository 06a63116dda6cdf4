/**
 * The only source of time for the policy engine. Monotonic time drives every
 * decision (windows, recovery timeouts, deadlines); wall time is used only for
 * values that leave the process (stored records, events). Tests inject a fake.
 */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending (for housekeeping timers). */
  unref?(): unknown;
}

export interface Clock {
  /** Monotonic milliseconds, fractional. Never goes backwards. */
  monoMs(): number;
  /** Wall-clock milliseconds since the epoch. */
  wallMs(): number;
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export const systemClock: Clock = Object.freeze({
  monoMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimer: (callback: () => void, delayMs: number): TimerHandle => setTimeout(callback, delayMs),
  clearTimer: (handle: TimerHandle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

import type { BreakerState } from '../../../names/policies';
import type { Clock } from '../../clock';
import type { CircuitBreakerOptions } from './options';
import { DEFAULT_FORCED_STATE_TTL_MS } from './options';
import { type OutcomeWindow, recordOutcome, resetOutcomes } from './outcome-window';

/** Half-open probes that have not reported for this long (or the recovery timeout, if longer) are abandoned. */
export const STUCK_PROBES_MS = 60_000;

/** Returned by `tryAcquire` when the call may not proceed. */
export const REJECTED = -1;

/**
 * Told about every transition. An object rather than a callback: its owner (a
 * pipeline, a store) implements it, so no closure is allocated per breaker.
 */
export interface TransitionListener {
  breakerTransitioned(from: BreakerState, to: BreakerState, reason: string): void;
}

/**
 * Hands out half-open probes when they must be counted beyond this process (a
 * fleet of workers sharing a store, src/fleet). With an arbiter, a half-open
 * breaker admits only the probes granted to it (`grantProbes`) and closes
 * only when told (`closeAfterProbes`); a failed probe still re-opens it at
 * once. Both callbacks are synchronous notifications: they must not throw and
 * do their work asynchronously.
 */
export interface ProbeArbiter {
  /** The breaker is half-open in `generation` and has no probe left; called on every such call (dedupe). */
  requestProbe(generation: number): void;
  /** A probe admitted in `generation` succeeded. */
  probeSucceeded(generation: number): void;
}

export interface CircuitBreakerSnapshot {
  readonly state: BreakerState;
  readonly failureRate: number | undefined;
  readonly slowCallRate: number | undefined;
  readonly bufferedCalls: number;
  readonly consecutiveFailures: number;
  readonly halfOpenInFlight: number;
  /** Milliseconds until an open breaker admits probes, or a forced state expires. */
  readonly remainingMs: number | undefined;
}

/**
 * Circuit breaker state machine. No timers: every time-based transition (open →
 * half-open, forced-state expiry) happens lazily when a caller or a status read
 * looks at it, with the time passed in from the pipeline's clock.
 *
 * A permit is a number: the breaker's generation when the call was admitted. An
 * outcome recorded with a permit from an older generation (a call admitted before
 * the last transition) no longer moves the state machine.
 */
export class CircuitBreaker implements OutcomeWindow {
  private current: BreakerState;
  private generation = 0;
  /** Monotonic deadline of the open state or of a forced state. */
  private untilMs = 0;
  private consecutiveFailures = 0;
  private halfOpenInFlight = 0;
  private halfOpenSuccesses = 0;
  private lastProbeAdmittedMs = 0;
  /** The consecutive-failure count the last success reset (restored by a late failure). */
  private streakBeforeLastSuccess = 0;
  private arbiter: ProbeArbiter | undefined;
  /** Probes granted by the arbiter and not used yet (this generation). */
  private probeAllowance = 0;
  // The sliding window over recent outcomes (see OutcomeWindow); public only for its functions.
  windowCount = 0;
  windowFailures = 0;
  windowSlows = 0;
  windowPosition = 0;
  failureBits: number[] | undefined = undefined;
  slowBits: number[] | undefined = undefined;

  constructor(
    readonly options: CircuitBreakerOptions,
    private readonly clock: Clock,
    private readonly listener: TransitionListener,
  ) {
    this.current = options.enabled ? 'closed' : 'disabled';
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Increases on every transition; outcomes, grants and closes from an older generation are ignored. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Let `arbiter` hand out the half-open probes (undefined: admit `halfOpenMaxCalls` locally again). */
  useProbeArbiter(arbiter: ProbeArbiter | undefined): void {
    this.arbiter = arbiter;
    this.probeAllowance = 0;
  }

  /** Grant `count` probes to a half-open breaker; false (nothing granted) if it left `generation`. */
  grantProbes(generation: number, count: number): boolean {
    if (generation !== this.generation || this.current !== 'half_open' || count <= 0) return false;
    this.probeAllowance += count;
    return true;
  }

  /** Take back the probes granted in `generation` and not used yet; returns how many. */
  revokeProbes(generation: number): number {
    if (generation !== this.generation) return 0;
    const unused = this.probeAllowance;
    this.probeAllowance = 0;
    return unused;
  }

  /** Close a half-open breaker whose probes succeeded (the arbiter's verdict); false if it left `generation`. */
  closeAfterProbes(generation: number): boolean {
    if (generation !== this.generation || this.current !== 'half_open') return false;
    this.transition('closed', 'probes_succeeded');
    return true;
  }

  /** Admit a call: a permit (≥ 0) or `REJECTED`. Reads the clock only outside the closed state. */
  tryAcquire(): number {
    const state = this.current;
    if (state === 'closed' || state === 'disabled') return this.generation;
    const nowMs = this.clock.monoMs();
    switch (state) {
      case 'forced_closed':
        if (nowMs >= this.untilMs) this.transition('closed', 'force_expired');
        return this.generation;
      case 'open':
        if (nowMs < this.untilMs) return REJECTED;
        this.transition('half_open', 'recovery_timeout');
        return this.admitProbe();
      case 'half_open':
        return this.admitProbe();
      case 'forced_open':
        if (nowMs < this.untilMs) return REJECTED;
        this.transition('closed', 'force_expired');
        return this.generation;
    }
  }

  /** Record a finished call's verdict. `durationMs` matters only with the slow-call trigger. */
  record(permit: number, failed: boolean, durationMs: number): void {
    if (permit !== this.generation) return;
    if (this.current === 'closed') {
      this.recordClosed(failed, durationMs);
    } else if (this.current === 'half_open') {
      this.halfOpenInFlight--;
      if (failed) this.open('probe_failed');
      else if (this.arbiter !== undefined) {
        this.halfOpenSuccesses++;
        this.arbiter.probeSucceeded(permit);
      } else if (++this.halfOpenSuccesses >= this.options.successThreshold)
        this.transition('closed', 'probes_succeeded');
    }
    // Forced and disabled states record nothing.
  }

  /**
   * A failure discovered after the call was already recorded as a success (a
   * response body cut mid-stream): counts as one failure in the closed state and
   * re-opens a half-open breaker. No permit is needed.
   */
  recordLateFailure(): void {
    // Closed state only: in half-open the late failure may belong to a call admitted
    // before the breaker opened, and must not decide the probes' verdict.
    if (this.current !== 'closed') return;
    // The call's success (at headers) broke the failure streak; its late failure restores it,
    // so bodies cut mid-stream trip the consecutive-failure trigger too.
    this.consecutiveFailures = this.streakBeforeLastSuccess;
    this.recordClosed(true, 0);
  }

  /** A permitted call ended without a verdict (neutral outcome): free its probe slot. */
  release(permit: number): void {
    if (permit === this.generation && this.current === 'half_open') this.halfOpenInFlight--;
  }

  /** How long a rejected caller should wait before trying again. */
  retryAfterMs(): number | undefined {
    if (this.current === 'open' || this.current === 'forced_open') {
      return Math.max(0, this.untilMs - this.clock.monoMs());
    }
    return undefined;
  }

  forceOpen(ttlMs: number = DEFAULT_FORCED_STATE_TTL_MS): void {
    this.untilMs = this.clock.monoMs() + ttlMs;
    this.transition('forced_open', 'forced');
  }

  forceClose(ttlMs: number = DEFAULT_FORCED_STATE_TTL_MS): void {
    this.untilMs = this.clock.monoMs() + ttlMs;
    this.transition('forced_closed', 'forced');
  }

  /** Back to closed with an empty window (operator reset, or `enabled` restored). */
  reset(reason = 'reset'): void {
    this.transition(this.options.enabled ? 'closed' : 'disabled', reason);
  }

  /**
   * Adopt a state decided elsewhere (a peer process through the shared store).
   * `remainingMs` is how long an open or forced state still lasts.
   */
  adopt(state: BreakerState, remainingMs: number, reason = 'remote'): void {
    if (
      state === this.current &&
      state !== 'open' &&
      state !== 'forced_open' &&
      state !== 'forced_closed'
    )
      return;
    this.untilMs = this.clock.monoMs() + Math.max(0, remainingMs);
    if (state !== this.current) this.transition(state, reason);
  }

  /** Apply lazy, time-based transitions so that a status read shows the effective state. */
  refresh(): void {
    const forced = this.current === 'forced_open' || this.current === 'forced_closed';
    if (forced && this.clock.monoMs() >= this.untilMs) this.transition('closed', 'force_expired');
  }

  snapshot(): CircuitBreakerSnapshot {
    this.refresh();
    const nowMs = this.clock.monoMs();
    const { windowCount: count, windowFailures: failures, windowSlows: slows } = this;
    const enough = count >= this.options.minimumCalls && count > 0;
    const timed =
      this.current === 'open' || this.current === 'forced_open' || this.current === 'forced_closed';
    return {
      state: this.current,
      failureRate: enough ? (failures * 100) / count : undefined,
      slowCallRate:
        enough && this.options.slowCallDurationMs > 0 ? (slows * 100) / count : undefined,
      bufferedCalls: count,
      consecutiveFailures: this.consecutiveFailures,
      halfOpenInFlight: this.halfOpenInFlight,
      remainingMs: timed ? Math.max(0, this.untilMs - nowMs) : undefined,
    };
  }

  private admitProbe(): number {
    if (this.arbiter !== undefined) {
      // Probes are counted by the arbiter (fleet-wide); without a granted one, fail fast.
      if (this.probeAllowance <= 0) {
        this.arbiter.requestProbe(this.generation);
        // An arbiter that cannot reach its store may grant at once (local probes).
        if (this.probeAllowance <= 0) return REJECTED;
      }
      this.probeAllowance--;
      this.halfOpenInFlight++;
      this.lastProbeAdmittedMs = this.clock.monoMs();
      return this.generation;
    }
    if (this.halfOpenInFlight >= this.options.halfOpenMaxCalls) {
      // A probe that never reports (a hung call without a timeout) would hold its slot
      // forever; after a quiet spell the probe round starts over.
      const nowMs = this.clock.monoMs();
      if (
        nowMs - this.lastProbeAdmittedMs <
        Math.max(STUCK_PROBES_MS, this.options.recoveryTimeoutMs)
      )
        return REJECTED;
      this.transition('half_open', 'probes_stuck');
    }
    this.halfOpenInFlight++;
    this.lastProbeAdmittedMs = this.clock.monoMs();
    return this.generation;
  }

  private recordClosed(failed: boolean, durationMs: number): void {
    const options = this.options;
    const slow = options.slowCallDurationMs > 0 && durationMs >= options.slowCallDurationMs;
    recordOutcome(this, options.slidingWindowSize, failed, slow);
    // A rate only rises on a failure (or slow call), except on the call that brings the window
    // to minimumCalls: the rates are judged for the first time then, whatever that call was.
    const firstJudged = this.windowCount === options.minimumCalls;
    if (!failed) {
      this.streakBeforeLastSuccess = this.consecutiveFailures;
      this.consecutiveFailures = 0;
      if (!slow && !firstJudged) return;
    } else if (
      options.failureThreshold > 0 &&
      ++this.consecutiveFailures >= options.failureThreshold
    ) {
      this.open('consecutive_failures');
      return;
    }
    const { windowCount: count, windowFailures: failures, windowSlows: slows } = this;
    if (count < options.minimumCalls) return;
    if (
      (failed || firstJudged) &&
      options.failureRateThreshold > 0 &&
      failures * 100 >= options.failureRateThreshold * count
    ) {
      this.open('failure_rate');
    } else if (
      (slow || firstJudged) &&
      options.slowCallDurationMs > 0 &&
      slows * 100 >= options.slowCallRateThreshold * count
    ) {
      this.open('slow_call_rate');
    }
  }

  private open(reason: string): void {
    this.untilMs = this.clock.monoMs() + this.options.recoveryTimeoutMs;
    this.transition('open', reason);
  }

  private transition(to: BreakerState, reason: string): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.consecutiveFailures = 0;
    this.halfOpenInFlight = 0;
    this.halfOpenSuccesses = 0;
    this.probeAllowance = 0;
    resetOutcomes(this);
    if (from !== to || reason === 'forced' || reason === 'probes_stuck')
      this.listener.breakerTransitioned(from, to, reason);
  }
}

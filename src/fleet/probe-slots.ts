import type { Pipeline } from '../core/pipeline/pipeline';
import {
  STUCK_PROBES_MS,
  type ProbeArbiter,
} from '../core/policies/circuit-breaker/circuit-breaker';
import type { TimerHandle } from '../core/clock';
import { background, type FleetContext } from './context';
import { probeSlotsKey, probeSuccessesKey } from './names';

/** Longest a granted probe slot waits for a call on this worker before it is handed back. */
const SLOT_HOLD_MAX_MS = 1_000;
/** Shortest pause before asking again once a round's slots are all taken. */
const EXHAUSTED_RETRY_MIN_MS = 50;

export interface ProbeRounds {
  /** The epoch of the open state this half-open round follows, or undefined when not known fleet-wide. */
  probeEpoch(dependency: string): number | undefined;
  /** Slot 1 of a round was taken: the fleet's breaker went half-open (history). */
  roundStarted(dependency: string, epoch: number): void;
}

/**
 * Half-open probes counted across the fleet (a `ProbeArbiter`).
 *
 * When an open breaker's recovery timeout passes, every worker goes half-open
 * by itself, in the same round: the epoch of the stored open record. A call
 * that finds no probe granted here is rejected at once (fail fast) and asks
 * the store for a slot — an atomic `increment` of
 * `breaker-probes:<dependency>:<epoch>`; slot numbers up to
 * max(halfOpenMaxCalls, successThreshold) are granted, so the whole fleet
 * sends at most that many probes per round (halfOpenMaxCalls with the usual
 * successThreshold ≤ halfOpenMaxCalls); an increment past the last slot is
 * undone at once. A granted slot no call used within a second is handed back
 * (decrement) for another worker to take; workers turned away ask again
 * every half second. Successful
 * probes are counted in `breaker-probe-ok:<dependency>:<epoch>`; the worker
 * whose success reaches successThreshold closes its breaker, and that
 * transition closes it everywhere (BreakerSync). A failed probe re-opens at
 * once, locally, and everywhere with the next epoch. A round's counters live
 * max(60 s, recoveryTimeout): a round whose probes never report starts over,
 * as a local breaker's does.
 *
 * Without a fleet epoch (this worker's own open state is not stored yet) or
 * without the store, the contract relaxes to at most that many probes per
 * worker, counted and closed locally.
 */
export class FleetProbes implements ProbeArbiter {
  private requesting = false;
  private exhaustedGeneration = -1;
  private exhaustedUntilMs = 0;
  /** This generation's local tally (used when the store cannot count). */
  private generation = -1;
  private localGranted = 0;
  private localSuccesses = 0;
  private localGrantedAtMs = 0;
  private readonly roundMax: number;
  private readonly roundTtlMs: number;
  private readonly holdMs: number;
  /** Pause before asking again when every slot of the round is taken. */
  private readonly retryMs: number;

  constructor(
    private readonly context: FleetContext,
    private readonly pipeline: Pipeline,
    private readonly rounds: ProbeRounds,
  ) {
    const options = pipeline.breaker!.options;
    this.roundMax = Math.max(options.halfOpenMaxCalls, options.successThreshold);
    this.roundTtlMs = Math.max(STUCK_PROBES_MS, options.recoveryTimeoutMs);
    this.holdMs = Math.min(SLOT_HOLD_MAX_MS, options.recoveryTimeoutMs);
    this.retryMs = Math.max(EXHAUSTED_RETRY_MIN_MS, this.holdMs / 2);
  }

  requestProbe(generation: number): void {
    this.track(generation);
    if (this.requesting) return;
    const nowMs = this.context.clock.monoMs();
    if (generation === this.exhaustedGeneration && nowMs < this.exhaustedUntilMs) return;
    const epoch = this.rounds.probeEpoch(this.pipeline.name);
    if (epoch === undefined || !this.context.health.available) {
      this.grantLocally(generation, nowMs);
      return;
    }
    this.requesting = true;
    const key = probeSlotsKey(this.pipeline.name, epoch);
    this.context.store.increment(key, 1, this.roundTtlMs).then(
      count => {
        this.requesting = false;
        this.context.succeeded('breaker.probe_slot');
        if (count.value > this.roundMax) {
          // Every slot is taken: undo this increment (so that a slot handed back is free
          // again) and ask again after a while — a holder may hand its slot back.
          this.giveBack(key, 1);
          this.exhaustedGeneration = generation;
          this.exhaustedUntilMs = this.context.clock.monoMs() + this.retryMs;
          return;
        }
        if (count.value === 1) this.rounds.roundStarted(this.pipeline.name, epoch);
        if (!this.pipeline.breaker!.grantProbes(generation, 1)) {
          this.giveBack(key, 1); // the breaker moved on meanwhile
          return;
        }
        this.scheduleHandBack(generation, key);
      },
      (error: unknown) => {
        this.requesting = false;
        this.context.report('breaker.probe_slot', error);
        this.grantLocally(generation, this.context.clock.monoMs());
      },
    );
  }

  probeSucceeded(generation: number): void {
    this.track(generation);
    this.localSuccesses++;
    const threshold = this.pipeline.breaker!.options.successThreshold;
    const epoch = this.rounds.probeEpoch(this.pipeline.name);
    if (epoch === undefined || !this.context.health.available) {
      if (this.localSuccesses >= threshold) this.pipeline.closeAfterProbes(generation);
      return;
    }
    this.context.store
      .increment(probeSuccessesKey(this.pipeline.name, epoch), 1, this.roundTtlMs)
      .then(
        count => {
          this.context.succeeded('breaker.probe_success');
          if (count.value >= threshold) this.pipeline.closeAfterProbes(generation);
        },
        (error: unknown) => {
          this.context.report('breaker.probe_success', error);
          if (this.localSuccesses >= threshold) this.pipeline.closeAfterProbes(generation);
        },
      );
  }

  /** Degraded: at most a round's worth of probes from this worker, per generation. */
  private grantLocally(generation: number, nowMs: number): void {
    if (this.localGranted >= this.roundMax) {
      // Probes that never reported: start the local round over, as a local breaker would.
      if (nowMs - this.localGrantedAtMs < this.roundTtlMs) return;
      this.localGranted = 0;
    }
    if (this.pipeline.breaker!.grantProbes(generation, 1)) {
      this.localGranted++;
      this.localGrantedAtMs = nowMs;
    }
  }

  private track(generation: number): void {
    if (generation === this.generation) return;
    this.generation = generation;
    this.localGranted = 0;
    this.localSuccesses = 0;
  }

  private scheduleHandBack(generation: number, key: string): void {
    const timer: TimerHandle = this.context.clock.setTimer(() => {
      const unused = this.pipeline.breaker!.revokeProbes(generation);
      if (unused > 0) this.giveBack(key, unused);
    }, this.holdMs);
    timer.unref?.();
  }

  private giveBack(key: string, count: number): void {
    background(this.context, 'breaker.probe_slot', () =>
      this.context.store.increment(key, -count, this.roundTtlMs),
    );
  }
}

import type { CallOutcome, PolicyKind, RejectionReason } from '../../names/policies';
import type { RetryStopReason } from '../events';
import { DurationHistogram } from './duration-histogram';

/** Which policy decided a call's outcome; `none` when no policy intervened. */
export type DecidingPolicy = PolicyKind | 'none';

/** Receives every measured call duration (pipeline name, outcome, milliseconds). */
export type DurationSink = (pipeline: string, outcome: CallOutcome, durationMs: number) => void;

/**
 * A slot shared by every pipeline of an engine (and across engine restarts),
 * set by the telemetry layer: whether anything may read call timing right now,
 * a duration histogram or a span (two clock reads per call are skipped while
 * nothing can); and where durations must also be recorded besides the
 * in-process histograms: an application's own OpenTelemetry SDK, which Baldur
 * cannot attach a metric producer to.
 */
export interface DurationSinkSlot {
  measuring: boolean;
  current: DurationSink | undefined;
}

/** A slot that measures (until telemetry decides nothing reads durations) and records nowhere else. */
export function newDurationSlot(): DurationSinkSlot {
  return { measuring: true, current: undefined };
}

/**
 * Running totals for one pipeline, updated in place on every call and read by
 * status snapshots and observable metric instruments. The success path touches
 * one field (and a histogram when durations are measured).
 */
export class PipelineStats {
  successes = 0;
  /** Successes some policy brought about (a retry, an idempotent replay), by policy; included in `successes`. */
  readonly successPolicies = new Map<DecidingPolicy, number>();
  /** Non-success outcomes, keyed `outcome/policy`. */
  readonly outcomes = new Map<string, number>();
  readonly rejections = new Map<RejectionReason, number>();
  retriesScheduled = 0;
  readonly retryStops = new Map<RetryStopReason, number>();
  /** Calls counted as successes that failed afterwards (a response body cut mid-stream). */
  lateFailures = 0;
  rateLimitAllowed = 0;
  rateLimitDelayed = 0;
  rateLimitRejected = 0;
  /** Per-outcome durations; allocated on first use, only when durations are measured. */
  readonly durations = new Map<CallOutcome, DurationHistogram>();

  recordOutcome(outcome: Exclude<CallOutcome, 'success'>, policy: DecidingPolicy): void {
    const key = `${outcome}/${policy}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
  }

  recordDuration(outcome: CallOutcome, durationMs: number): void {
    let histogram = this.durations.get(outcome);
    if (histogram === undefined) {
      histogram = new DurationHistogram();
      this.durations.set(outcome, histogram);
    }
    histogram.record(durationMs);
  }

  countOf(outcome: CallOutcome): number {
    if (outcome === 'success') return this.successes;
    let total = 0;
    for (const [key, count] of this.outcomes) if (key.startsWith(`${outcome}/`)) total += count;
    return total;
  }
}

export function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Bucket bounds in seconds: OTel's advice for HTTP client durations. */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

/**
 * A cumulative explicit-bucket histogram filled in process and read by the
 * telemetry layer at collection time: recording is an array increment instead
 * of an SDK call with attribute hashing on every call.
 */
export class DurationHistogram {
  readonly counts = new Float64Array(DURATION_BUCKETS_S.length + 1);
  count = 0;
  sumS = 0;
  minS = Infinity;
  maxS = -Infinity;

  record(durationMs: number): void {
    const seconds = durationMs / 1000;
    let i = 0;
    while (i < DURATION_BUCKETS_S.length && seconds > DURATION_BUCKETS_S[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sumS += seconds;
    if (seconds < this.minS) this.minS = seconds;
    if (seconds > this.maxS) this.maxS = seconds;
  }
}

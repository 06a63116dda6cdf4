import { gcraToleranceMs } from '../core/policies/rate-limit/gcra';
import type { PermitRequest } from '../core/store';

export interface GcraTakeResult {
  readonly granted: number;
  readonly retryAfterMs: number;
  /** New theoretical arrival time to store (when something was granted). */
  readonly theoreticalArrivalMs: number;
  /** How long the stored state matters: after this the bucket is full again anyway. */
  readonly ttlMs: number;
}

/**
 * Batch GCRA: grant as many of `requested` permits as the bucket allows at
 * `nowMs`. The same arithmetic runs in every backend (the Redis Lua script
 * mirrors it), so all stores agree on what "limit per period, burst B" means.
 */
export function gcraTake(
  storedArrivalMs: number,
  nowMs: number,
  request: PermitRequest,
): GcraTakeResult {
  const intervalMs = request.perMs / request.limit;
  const arrivalMs = Math.max(storedArrivalMs, nowMs);
  const room = Math.floor(
    (nowMs - arrivalMs + gcraToleranceMs(nowMs, intervalMs)) / intervalMs + request.burst,
  );
  const granted = Math.max(0, Math.min(request.requested, room));
  if (granted === 0) {
    return {
      granted: 0,
      retryAfterMs: Math.max(0, arrivalMs + intervalMs - request.burst * intervalMs - nowMs),
      theoreticalArrivalMs: arrivalMs,
      ttlMs: 0,
    };
  }
  const next = arrivalMs + granted * intervalMs;
  return {
    granted,
    retryAfterMs: 0,
    theoreticalArrivalMs: next,
    ttlMs: Math.ceil(next - nowMs) + 1,
  };
}

/**
 * Policies the client-instrumentation suites (pg, mysql2, ioredis) start from:
 * fast and deterministic — small thresholds, short recovery, no jitter, no
 * retry budget.
 */
export function testPolicies(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    circuitBreaker: {
      failureThreshold: 3,
      minimumCalls: 100,
      slidingWindowSize: 100,
      recoveryTimeout: '500ms',
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    },
    retry: false,
    ...overrides,
  };
}

/** Retries that are quick and always allowed (no budget, no jitter). */
export const FAST_RETRY = { maxAttempts: 3, baseDelay: '20ms', jitter: 0, budget: false };

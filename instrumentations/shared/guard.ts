import type { Logger } from '../../src/log';

/**
 * Run agent logic; if it throws (a Baldur bug), log one line and fall back to
 * pass-through behaviour. Never wrap the call to the original function in this:
 * the original must run exactly once and its errors must reach the app untouched.
 */
export function guarded<T>(logger: Logger, what: string, agentLogic: () => T, fallback: T): T {
  try {
    return agentLogic();
  } catch (error) {
    logger.once(
      `agent-failure:${what}`,
      'error',
      `${what} failed; passing the call through unprotected`,
      error,
    );
    return fallback;
  }
}

/**
 * Whether the active OpenTelemetry context suppresses tracing: exporters send
 * their batches inside `suppressTracing(...)`, and the agent must neither
 * police nor retry them. Reads the API's process-global registration directly
 * (what `isTracingSuppressed(context.active())` does), so OpenTelemetry is
 * never loaded just for this check; without it, nothing is suppressed.
 */
const API_KEY = Symbol.for('opentelemetry.js.api.1');
const SUPPRESS_TRACING_KEY = Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

interface ContextLike {
  getValue(key: symbol): unknown;
}

interface ApiGlobal {
  context?: { active(): ContextLike };
}

export function tracingSuppressed(): boolean {
  const api = (globalThis as Record<symbol, ApiGlobal | undefined>)[API_KEY];
  const manager = api?.context;
  if (manager === undefined) return false;
  try {
    return manager.active().getValue(SUPPRESS_TRACING_KEY) === true;
  } catch {
    return false;
  }
}

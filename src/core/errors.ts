import { ERROR_CODES, type ErrorCode } from '../names/error-codes';

const kBaldurError = Symbol.for('baldur.error.v1');

export interface BaldurErrorOptions {
  /** The dependency (or protected function) whose policy rejected the call. */
  readonly dependency: string;
  /** When retrying could succeed, in milliseconds from now. */
  readonly retryAfterMs?: number | undefined;
  readonly cause?: unknown;
}

/**
 * Whether rejections capture a stack trace. Off by default: capturing one costs
 * ~3–4 µs, and a breaker or limiter turning a flood of calls away would spend
 * more on stacks than on deciding (resilience4j's `writableStackTrace` makes the
 * same trade). The code, dependency and message identify a rejection; turn
 * stacks on (`errorStackTraces: true`) to see where it was thrown.
 */
let captureStacks = false;

export function setRejectionStackTraces(enabled: boolean): void {
  captureStacks = enabled;
}

/**
 * Base class of every intended rejection. Instrumented clients deliver it the way
 * they report their own failures (fetch wraps it as `cause`). `instanceof` works
 * across duplicate copies of the package because it checks a global symbol brand.
 */
export abstract class BaldurError extends Error {
  abstract readonly code: ErrorCode;
  readonly dependency: string;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: BaldurErrorOptions) {
    const stackTraceLimit = Error.stackTraceLimit;
    if (!captureStacks) Error.stackTraceLimit = 0;
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.dependency = options.dependency;
    this.retryAfterMs =
      options.retryAfterMs === undefined ? undefined : Math.max(0, Math.ceil(options.retryAfterMs));
  }

  get [kBaldurError](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(kBaldurError in value)) return false;
    // Subclasses keep ordinary prototype semantics; only the base checks the brand.
    if (this === BaldurError) return true;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

export class CircuitOpenError extends BaldurError {
  readonly code = ERROR_CODES.CIRCUIT_OPEN;
  override readonly name = 'CircuitOpenError';
  constructor(
    dependency: string,
    retryAfterMs: number | undefined,
    readonly state: string,
  ) {
    super(`Circuit breaker for "${dependency}" is ${state.replace('_', ' ')}`, {
      dependency,
      retryAfterMs,
    });
  }
}

export class RateLimitedError extends BaldurError {
  readonly code = ERROR_CODES.RATE_LIMITED;
  override readonly name = 'RateLimitedError';
  constructor(dependency: string, retryAfterMs: number) {
    super(`Rate limit for "${dependency}" exceeded`, { dependency, retryAfterMs });
  }
}

export class BulkheadFullError extends BaldurError {
  readonly code = ERROR_CODES.BULKHEAD_FULL;
  override readonly name = 'BulkheadFullError';
  constructor(
    dependency: string,
    readonly reason: 'queue_full' | 'queue_timeout',
  ) {
    super(
      reason === 'queue_full'
        ? `Bulkhead for "${dependency}" is full`
        : `Timed out waiting for a bulkhead slot for "${dependency}"`,
      { dependency },
    );
  }
}

export class TimeoutError extends BaldurError {
  readonly code = ERROR_CODES.TIMEOUT;
  override readonly name = 'TimeoutError';
  constructor(
    dependency: string,
    readonly timeoutMs: number,
    readonly scope: 'attempt' | 'total',
  ) {
    super(`Call to "${dependency}" timed out after ${timeoutMs} ms (${scope})`, { dependency });
  }
}

export class CooldownError extends BaldurError {
  readonly code = ERROR_CODES.COOLDOWN;
  override readonly name = 'CooldownError';
  constructor(dependency: string, retryAfterMs: number) {
    super(`"${dependency}" asked callers to back off (Retry-After)`, { dependency, retryAfterMs });
  }
}

export class IdempotencyConflictError extends BaldurError {
  readonly code = ERROR_CODES.IDEMPOTENCY_CONFLICT;
  override readonly name = 'IdempotencyConflictError';
  constructor(
    dependency: string,
    readonly key: string,
    readonly status: 'executing' | 'completed' | 'unavailable',
    retryAfterMs?: number,
  ) {
    super(
      status === 'executing'
        ? `Idempotency key "${key}" is being executed elsewhere`
        : status === 'completed'
          ? `Idempotency key "${key}" already completed and has no stored result`
          : `Idempotency key "${key}" cannot be checked: the state store is unavailable`,
      { dependency, retryAfterMs },
    );
  }
}

export class ShedError extends BaldurError {
  readonly code = ERROR_CODES.SHED;
  override readonly name = 'ShedError';
  constructor(dependency: string, reason: string, retryAfterMs?: number) {
    super(`Work for "${dependency}" shed: ${reason}`, { dependency, retryAfterMs });
  }
}

/** True for any Baldur rejection, including one carried as `cause` (fetch's TypeError). */
export function isBaldurError(value: unknown): value is BaldurError {
  return value instanceof BaldurError;
}

/** The Baldur rejection in `value` or its `cause`, if any. */
export function unwrapBaldurError(value: unknown): BaldurError | undefined {
  if (value instanceof BaldurError) return value;
  const cause =
    typeof value === 'object' && value !== null ? (value as { cause?: unknown }).cause : undefined;
  return cause instanceof BaldurError ? cause : undefined;
}

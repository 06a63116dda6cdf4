import {
  SpanKind,
  SpanStatusCode,
  context,
  type Attributes,
  type Tracer,
} from '@opentelemetry/api';
import type { CallDecisionEvent, EventfulCallEvent } from '../core/events';
import { ATTR, SPAN_NAMES } from '../names/attributes';
import type { BreakerState } from '../names/policies';

/** Semantic-convention attribute (stable): low-cardinality class of the error. */
const ERROR_TYPE = 'error.type';
const MAX_STATUS_MESSAGE = 200;

/**
 * Low-cardinality class of a failure (`error.type`): a Baldur rejection's
 * stable code, a system error code (`ECONNREFUSED`), an error's class name, or
 * the status code of a failed HTTP response (a failure returned, not thrown).
 */
export function errorType(failure: unknown): string | undefined {
  if (failure === undefined || failure === null) return undefined;
  if (typeof failure !== 'object') return '_OTHER';
  const { code, name, statusCode, status } = failure as Record<string, unknown>;
  if (failure instanceof Error) {
    if (typeof code === 'string' && code !== '') return code;
    return typeof name === 'string' && name !== '' ? name : '_OTHER';
  }
  if (typeof statusCode === 'number') return String(statusCode);
  if (typeof status === 'number') return String(status);
  return '_OTHER';
}

function statusMessage(error: unknown): string | undefined {
  if (error instanceof Error) {
    const message = `${error.name}: ${error.message}`;
    return message.length > MAX_STATUS_MESSAGE
      ? `${message.slice(0, MAX_STATUS_MESSAGE)}…`
      : message;
  }
  return undefined;
}

/** The span event for one decision: its name and attributes. */
export function describeDecision(event: CallDecisionEvent): [string, Attributes] {
  switch (event.type) {
    case 'retry.scheduled': {
      const attributes: Attributes = {
        [ATTR.RETRY_RESULT]: 'scheduled',
        [ATTR.ATTEMPT]: event.attempt,
        [ATTR.DELAY_MS]: event.delayMs,
      };
      if (event.retryAfterMs !== undefined) attributes[ATTR.RETRY_AFTER_MS] = event.retryAfterMs;
      const type = errorType(event.error);
      if (type !== undefined) attributes[ERROR_TYPE] = type;
      return [SPAN_NAMES.RETRY, attributes];
    }
    case 'retry.stopped':
      return [
        SPAN_NAMES.RETRY,
        { [ATTR.RETRY_RESULT]: event.reason, [ATTR.ATTEMPT]: event.attempt },
      ];
    case 'call.rejected': {
      const attributes: Attributes = { [ATTR.REASON]: event.reason, [ATTR.POLICY]: event.policy };
      if (event.retryAfterMs !== undefined) attributes[ATTR.RETRY_AFTER_MS] = event.retryAfterMs;
      // Observe mode: the call would have been rejected and went ahead.
      if (event.observed) attributes[ATTR.MODE] = 'observe';
      return [SPAN_NAMES.REJECTED, attributes];
    }
    case 'circuit_breaker.state_change':
      return [
        SPAN_NAMES.STATE_CHANGE,
        { [ATTR.FROM]: event.from, [ATTR.TO]: event.to, [ATTR.REASON]: event.reason },
      ];
    case 'timeout':
      return [
        SPAN_NAMES.TIMEOUT,
        {
          [ATTR.POLICY]: event.scope === 'total' ? 'total_timeout' : 'attempt_timeout',
          [ATTR.TIMEOUT_MS]: event.timeoutMs,
          [ATTR.ATTEMPT]: event.attempt,
        },
      ];
    case 'fallback.used': {
      const type = errorType(event.error);
      return [SPAN_NAMES.FALLBACK, type === undefined ? {} : { [ERROR_TYPE]: type }];
    }
    case 'cooldown.installed':
      return [SPAN_NAMES.COOLDOWN, { [ATTR.RETRY_AFTER_MS]: event.retryAfterMs }];
    case 'bulkhead.queued':
      return [SPAN_NAMES.BULKHEAD_QUEUED, { [ATTR.QUEUED]: event.queued }];
    case 'dead_letter.captured':
      return [SPAN_NAMES.DEAD_LETTER, { [ATTR.DEAD_LETTER_ID]: event.id }];
    case 'idempotency.decision':
      return [SPAN_NAMES.IDEMPOTENCY, { [ATTR.IDEMPOTENCY_DECISION]: event.decision }];
  }
}

/**
 * Turns a call that met a decision into one `baldur` span. The span is built
 * after the fact from the call's recorded decisions (the happy path records
 * none and gets no span): its start and end are the call's, each decision is a
 * span event at the time it was made, and its parent is the context the call
 * ran in — the caller's span. The attempts' client spans (from the official
 * instrumentations) are therefore its siblings under that parent, not its
 * children: a span cannot be re-parented once started, and Baldur only learns
 * that a call is worth a span after its first attempt.
 */
export class CallSpans {
  constructor(
    private readonly tracer: Tracer,
    private readonly breakerState: (dependency: string) => BreakerState | undefined,
  ) {}

  record(event: EventfulCallEvent): void {
    const attributes: Attributes = {
      [ATTR.DEPENDENCY]: event.dependency,
      [ATTR.OUTCOME]: event.outcome,
      [ATTR.POLICY]: event.policy,
      [ATTR.ATTEMPTS]: event.attempts,
    };
    const state = this.breakerState(event.dependency);
    if (state !== undefined) attributes[ATTR.BREAKER_STATE] = state;
    const failed =
      event.outcome === 'failure' || event.outcome === 'rejected' || event.outcome === 'timeout';
    if (event.outcome !== 'success') {
      const type = errorType(event.error);
      if (type !== undefined) attributes[ERROR_TYPE] = type;
    }
    const startMs = event.startWallMs;
    const endMs = startMs + event.durationMs;
    const span = this.tracer.startSpan(
      SPAN_NAMES.CALL,
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes },
      context.active(),
    );
    if (!span.isRecording()) return;
    for (const decision of event.events) {
      const [name, eventAttributes] = describeDecision(decision);
      // Wall-clock milliseconds are whole; keep events inside the span.
      span.addEvent(name, eventAttributes, Math.min(endMs, Math.max(startMs, decision.atWallMs)));
    }
    if (failed) {
      const message = statusMessage(event.error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        ...(message === undefined ? {} : { message }),
      });
    }
    span.end(endMs);
  }
}

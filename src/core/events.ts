import type { BreakerState, CallOutcome, PolicyKind, RejectionReason } from '../names/policies';

/**
 * Typed events for every resilience decision. The happy path emits nothing; the
 * telemetry layer, the admin stream and tests subscribe. Timestamps are wall-clock
 * milliseconds so events can leave the process.
 */
export interface BreakerStateChangeEvent {
  readonly type: 'circuit_breaker.state_change';
  readonly dependency: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** What caused it: a trigger name, `recovery_timeout`, `probe_failed`, `probes_succeeded`, `forced`, `remote`, … */
  readonly reason: string;
  readonly atWallMs: number;
}

export interface RetryScheduledEvent {
  readonly type: 'retry.scheduled';
  readonly dependency: string;
  /** The attempt that just failed (1-based). */
  readonly attempt: number;
  readonly delayMs: number;
  /** Set when the delay came from the server's Retry-After. */
  readonly retryAfterMs: number | undefined;
  readonly error: unknown;
  readonly atWallMs: number;
}

export type RetryStopReason =
  'exhausted' | 'not_retryable' | 'budget' | 'deadline' | 'retry_after_too_long';

export interface RetryStoppedEvent {
  readonly type: 'retry.stopped';
  readonly dependency: string;
  readonly attempt: number;
  readonly reason: RetryStopReason;
  readonly atWallMs: number;
}

export interface RejectedEvent {
  readonly type: 'call.rejected';
  readonly dependency: string;
  readonly reason: RejectionReason;
  readonly policy: PolicyKind;
  readonly retryAfterMs: number | undefined;
  /** Observe mode: the call would have been rejected and went ahead. */
  readonly observed: boolean;
  readonly atWallMs: number;
}

export interface TimeoutEvent {
  readonly type: 'timeout';
  readonly dependency: string;
  readonly scope: 'attempt' | 'total';
  readonly timeoutMs: number;
  readonly attempt: number;
  /** Observe mode: the call ran past the limit and was let run. */
  readonly observed: boolean;
  readonly atWallMs: number;
}

export interface FallbackEvent {
  readonly type: 'fallback.used';
  readonly dependency: string;
  readonly error: unknown;
  readonly atWallMs: number;
}

export interface DeadLetterCapturedEvent {
  readonly type: 'dead_letter.captured';
  readonly dependency: string;
  readonly id: string;
  readonly atWallMs: number;
}

export interface DeadLetterReplayedEvent {
  readonly type: 'dead_letter.replayed';
  readonly dependency: string;
  readonly id: string;
  readonly ok: boolean;
  readonly atWallMs: number;
}

export interface CooldownEvent {
  readonly type: 'cooldown.installed';
  readonly dependency: string;
  readonly untilWallMs: number;
  readonly retryAfterMs: number;
  readonly atWallMs: number;
}

export interface BulkheadQueuedEvent {
  readonly type: 'bulkhead.queued';
  readonly dependency: string;
  readonly queued: number;
  readonly atWallMs: number;
}

export interface IdempotencyEvent {
  readonly type: 'idempotency.decision';
  readonly dependency: string;
  readonly decision: 'claimed' | 'replayed' | 'takeover';
  readonly atWallMs: number;
}

/** A call that met at least one policy decision; carries that call's events in order. */
export interface EventfulCallEvent {
  readonly type: 'call.eventful';
  readonly dependency: string;
  readonly outcome: CallOutcome;
  /** The policy that decided the outcome (`none`: the dependency's own answer stood). */
  readonly policy: PolicyKind | 'none';
  readonly attempts: number;
  readonly startWallMs: number;
  readonly durationMs: number;
  readonly events: readonly CallDecisionEvent[];
  readonly error: unknown;
}

export interface ModeChangeEvent {
  readonly type: 'control.changed';
  readonly killSwitch: boolean;
  readonly mode: 'enforce' | 'observe';
  readonly reason: string | undefined;
  readonly atWallMs: number;
}

/** Decisions that belong to one call (collected for its trace). */
export type CallDecisionEvent =
  | BreakerStateChangeEvent
  | RetryScheduledEvent
  | RetryStoppedEvent
  | RejectedEvent
  | TimeoutEvent
  | FallbackEvent
  | DeadLetterCapturedEvent
  | CooldownEvent
  | BulkheadQueuedEvent
  | IdempotencyEvent;

export type BaldurEvent =
  CallDecisionEvent | EventfulCallEvent | DeadLetterReplayedEvent | ModeChangeEvent;
export type BaldurEventType = BaldurEvent['type'];
export type EventOfType<T extends BaldurEventType> = Extract<BaldurEvent, { type: T }>;

export interface Disposable {
  dispose(): void;
}

type Listener<E> = (event: E) => void;

/**
 * Publish/subscribe by event type. Emission costs one array-length check when
 * nobody listens; a throwing listener is reported to `onListenerError` and never
 * reaches the call that emitted.
 */
export class EventBus {
  private readonly listeners = new Map<BaldurEventType, Listener<never>[]>();
  private anyListeners: Listener<BaldurEvent>[] = [];

  constructor(private readonly onListenerError: (error: unknown) => void = () => {}) {}

  on<T extends BaldurEventType>(type: T, listener: Listener<EventOfType<T>>): Disposable {
    const list = (this.listeners.get(type) ?? []) as Listener<EventOfType<T>>[];
    this.listeners.set(type, [...list, listener] as Listener<never>[]);
    return {
      dispose: () => {
        const current = this.listeners.get(type) ?? [];
        this.listeners.set(
          type,
          current.filter(l => l !== (listener as Listener<never>)),
        );
      },
    };
  }

  /** Every event, of every type (the admin event stream). */
  onAny(listener: Listener<BaldurEvent>): Disposable {
    this.anyListeners = [...this.anyListeners, listener];
    return {
      dispose: () => {
        this.anyListeners = this.anyListeners.filter(l => l !== listener);
      },
    };
  }

  hasListeners(type: BaldurEventType): boolean {
    return this.anyListeners.length > 0 || (this.listeners.get(type)?.length ?? 0) > 0;
  }

  emit(event: BaldurEvent): void {
    const list = this.listeners.get(event.type) as Listener<BaldurEvent>[] | undefined;
    if (list !== undefined) for (const listener of list) this.deliver(listener, event);
    for (const listener of this.anyListeners) this.deliver(listener, event);
  }

  private deliver(listener: Listener<BaldurEvent>, event: BaldurEvent): void {
    try {
      listener(event);
    } catch (error) {
      this.onListenerError(error);
    }
  }
}

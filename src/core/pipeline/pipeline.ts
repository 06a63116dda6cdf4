import type { BreakerState, CallOutcome, RejectionReason } from '../../names/policies';
import { REJECTION_REASONS } from '../../names/policies';
import type { Clock } from '../clock';
import type { Deadlines } from '../deadlines';
import {
  BulkheadFullError,
  CircuitOpenError,
  CooldownError,
  IdempotencyConflictError,
  RateLimitedError,
  TimeoutError,
  type BaldurError,
} from '../errors';
import type { CallDecisionEvent, EventBus, RetryStopReason } from '../events';
import { defaultClassifier, isRetryableByDefault, type Outcome, type Verdict } from '../outcome';
import { Bulkhead } from '../policies/bulkhead/bulkhead';
import {
  CircuitBreaker,
  REJECTED,
  type TransitionListener,
} from '../policies/circuit-breaker/circuit-breaker';
import { Cooldown } from '../policies/cooldown/cooldown';
import type { DeadLetterQueue } from '../policies/dead-letter/dead-letter-queue';
import type { IdempotencyGate } from '../policies/idempotency/idempotency-gate';
import {
  GcraLimiter,
  NEEDS_REFILL,
  NO_PERMIT,
  type PermitSource,
} from '../policies/rate-limit/gcra';
import { backoffDelayMs } from '../policies/retry/backoff';
import type { RetryOptions } from '../policies/retry/options';
import { RetryBudget } from '../policies/retry/retry-budget';
import { AttemptRace } from './attempt-race';
import { TimedAttempt, type AttemptDeadline, type FirstOutcomeSink } from './timed-attempt';
import type { Controls } from './controls';
import { RETRY_SAFE_CALL, type CallOptions, type PipelineOptions } from './options';
import { type DecidingPolicy, type DurationSinkSlot, PipelineStats, bump } from './stats';
import { describePipeline, type PipelineStatus } from './status';

/** What a pipeline borrows from its engine. */
export interface PipelineServices {
  readonly clock: Clock;
  readonly deadlines: Deadlines;
  readonly bus: EventBus;
  readonly controls: Controls;
  /** [0, 1); injected so that jitter is reproducible in tests. */
  readonly random: () => number;
  readonly deadLetters: DeadLetterQueue | undefined;
  readonly idempotency: IdempotencyGate | undefined;
  /** Record every call's duration (the telemetry layer reads the histograms)... */
  readonly measureDurations: boolean;
  /** ...while this slot says anything reads them; and where they also go (an SDK Baldur does not own). */
  readonly durationSink?: DurationSinkSlot | undefined;
  /** Agent-internal failures (a store write that failed in the background); never thrown into calls. */
  readonly reportError: (operation: string, error: unknown) => void;
  /** Replace the local rate limiter (a fleet-wide one when a shared store is configured). */
  readonly createPermitSource?:
    ((name: string, options: PipelineOptions) => PermitSource | undefined) | undefined;
}

export type Callee = (this: unknown, ...args: never[]) => unknown;

/** The outcome of the fast path's attempt, handed to the full path. */
interface FirstAttempt {
  readonly isError: boolean;
  readonly error: unknown;
  readonly value: unknown;
  readonly permit: number;
  /** The attempt was cut by its (per-attempt) deadline. */
  readonly timedOut: boolean;
  readonly startMs: number;
}

function passThrough(fn: Callee, thisArg: unknown, args: readonly unknown[]): Promise<unknown> {
  try {
    return Promise.resolve(fn.apply(thisArg, args as never[]));
  } catch (error) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrow exactly what the callee threw
    return Promise.reject(error);
  }
}

/**
 * The resend ordinal (attempt number − 1) of the retry whose callee is running
 * synchronously right now, and 0 at any other time. Client instrumentations read
 * it while they start an attempt's span (`http.request.resend_count`). It is set
 * only around a retry's call: first attempts never touch it.
 */
export const currentAttempt = { resend: 0 };

function callAsResend(
  fn: Callee,
  thisArg: unknown,
  args: readonly unknown[],
  resend: number,
): unknown {
  const outer = currentAttempt.resend;
  currentAttempt.resend = resend;
  try {
    return fn.apply(thisArg, args as never[]);
  } finally {
    currentAttempt.resend = outer;
  }
}

/** The decisions one eventful call met, kept for its trace. Created on the first decision only. */
class CallRecord {
  readonly events: CallDecisionEvent[] = [];
}

const NEVER_ABORTED = new AbortController().signal;

/** `admitFirstAttempt`: the call cannot take the fast path; run it through `execute`. */
export const FULL_PATH = -2;

/** A call's start time when nothing needed it (no clock read). */
const UNTIMED = -1;

/** Durations of an engine without a telemetry slot: always measured. */
const ALWAYS_MEASURED: DurationSinkSlot = Object.freeze({ measuring: true, current: undefined });

/**
 * One dependency's resilience pipeline. `execute` is a single async function
 * that walks the canonical order (SPEC §4, `CANONICAL_ORDER`):
 *
 *   kill switch / observe → fallback → dead letter → rate limit + cooldown →
 *   bulkhead → idempotency → total timeout → retry → circuit breaker →
 *   attempt timeout → the call
 *
 * Each policy is a small state object with synchronous checks; the pipeline
 * only awaits the callee, and — off the happy path — queue waits, backoff
 * delays and store calls. Keeping it one async frame is what keeps the added
 * cost of a successful call near the cost of one `await`.
 */
export class Pipeline implements FirstOutcomeSink, TransitionListener {
  readonly name: string;
  readonly stats = new PipelineStats();
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly limiter: PermitSource | undefined;
  readonly cooldown = new Cooldown();
  private readonly budget: RetryBudget | undefined;
  /** Shared by the fast path's timed first attempts; set when an attempt timeout is configured. */
  private readonly attemptDeadline: AttemptDeadline | undefined;
  /** Read the clock at call start for a policy: a total deadline, a retry time budget, slow calls. */
  private readonly timedByPolicy: boolean;
  /** Whether and where call durations are recorded; undefined: never. */
  private readonly durations: DurationSinkSlot | undefined;
  /** Time each attempt (slow-call trigger). */
  private readonly timeAttempts: boolean;
  /** Some policy must act before the call: the fast path does not apply. */
  private readonly gated: boolean;
  private lastTransition: CallDecisionEvent | undefined = undefined;
  /** Logical calls so far (the retry budget's denominator). */
  private callCount = 0;

  constructor(
    readonly options: PipelineOptions,
    private readonly services: PipelineServices,
  ) {
    this.name = options.name;
    const { clock } = services;
    if (options.circuitBreaker !== undefined) {
      this.breaker = new CircuitBreaker(options.circuitBreaker, clock, this);
    }
    if (options.bulkhead !== undefined)
      this.bulkhead = new Bulkhead(options.bulkhead, services.deadlines);
    if (options.rateLimit !== undefined) {
      this.limiter =
        services.createPermitSource?.(this.name, options) ?? new GcraLimiter(options.rateLimit);
    }
    if (options.retry?.budget !== undefined && options.retry.maxAttempts > 1) {
      this.budget = new RetryBudget(options.retry.budget, clock.monoMs());
    }
    if (options.attemptTimeoutMs > 0) {
      this.attemptDeadline = {
        deadlines: services.deadlines,
        dependency: this.name,
        timeoutMs: options.attemptTimeoutMs,
        sink: this,
      };
    }
    this.timeAttempts = (options.circuitBreaker?.slowCallDurationMs ?? 0) > 0;
    this.gated =
      this.limiter !== undefined ||
      options.idempotency !== undefined ||
      options.passSignal ||
      options.totalTimeoutMs > 0;
    this.timedByPolicy =
      this.timeAttempts || options.totalTimeoutMs > 0 || (options.retry?.maxElapsedMs ?? 0) > 0;
    this.durations = services.measureDurations
      ? (services.durationSink ?? ALWAYS_MEASURED)
      : undefined;
  }

  /**
   * Run `fn` through the pipeline. Dispatches to a small first-attempt fast path
   * when nothing needs checking before the call (no rate limit, idempotency key,
   * total deadline, cooldown or observe mode; breaker closed; a bulkhead slot
   * free); anything else — and any attempt that did not simply succeed — goes
   * through `executeFull`, which implements the whole canonical order.
   */
  execute(
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions = RETRY_SAFE_CALL,
  ): Promise<unknown> {
    if (this.services.controls.killSwitch) return passThrough(fn, thisArg, args);
    const permit = this.admitFast();
    if (permit === FULL_PATH) {
      this.callCount++;
      return this.executeFull(fn, thisArg, args, call, undefined);
    }
    const attemptDeadline = this.attemptDeadline;
    if (attemptDeadline !== undefined) {
      return new TimedAttempt(
        attemptDeadline,
        fn,
        thisArg,
        args,
        call,
        permit,
        this.firstAttemptStartMs(),
      ).start();
    }
    return this.firstAttempt(fn, thisArg, args, call, permit);
  }

  /**
   * Admission for a first attempt on the fast path, for callers that run the
   * attempt themselves and report its outcome through `afterFirst` (an HTTP
   * request does, without a promise in between). Returns the breaker permit
   * (`REJECTED` when there is no breaker), or `FULL_PATH` when the call must
   * go through `execute` — which then also handles the kill switch, an attempt
   * timeout and every policy that acts before the call. Counts the call when
   * admitted.
   */
  admitFirstAttempt(): number {
    return this.options.attemptTimeoutMs > 0 ? FULL_PATH : this.admitFast();
  }

  /** Start time of an attempt admitted by `admitFirstAttempt` (`UNTIMED` when nothing needs it). */
  firstAttemptStartMs(): number {
    return this.timedByPolicy || this.measuring() ? this.services.clock.monoMs() : UNTIMED;
  }

  /** Whether call durations are recorded right now (something reads them). */
  private measuring(): boolean {
    return this.durations !== undefined && this.durations.measuring;
  }

  private admitFast(): number {
    const controls = this.services.controls;
    if (controls.killSwitch || this.gated || controls.observe || this.cooldown.active)
      return FULL_PATH;
    const breaker = this.breaker;
    if (breaker !== undefined && breaker.state !== 'closed' && breaker.state !== 'disabled')
      return FULL_PATH;
    const bulkhead = this.bulkhead;
    if (bulkhead !== undefined && !bulkhead.tryEnter()) return FULL_PATH;
    this.callCount++;
    return breaker === undefined ? REJECTED : breaker.tryAcquire();
  }

  /** The happy path without a timeout: one attempt, a closed breaker, a held bulkhead slot (if any). */
  private async firstAttempt(
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions,
    permit: number,
  ): Promise<unknown> {
    const startMs = this.firstAttemptStartMs();
    let value: unknown;
    try {
      value = await fn.apply(thisArg, args as never[]);
    } catch (error) {
      return this.afterFirst(
        fn,
        thisArg,
        args,
        call,
        true,
        error,
        undefined,
        permit,
        false,
        startMs,
      );
    }
    return this.afterFirst(
      fn,
      thisArg,
      args,
      call,
      false,
      undefined,
      value,
      permit,
      false,
      startMs,
    );
  }

  /**
   * Settle the fast path's attempt: a plain success is accounted here and its
   * value returned; anything else continues in the full path from this outcome.
   */
  afterFirst(
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions,
    isError: boolean,
    error: unknown,
    value: unknown,
    permit: number,
    timedOut: boolean,
    startMs: number,
  ): unknown {
    if (!isError && this.verdictOf(false, undefined, value) === 'success') {
      const clock = this.services.clock;
      if (permit !== REJECTED)
        this.breaker!.record(permit, false, this.timeAttempts ? clock.monoMs() - startMs : 0);
      if (this.lastTransition !== undefined) {
        // A success can open the breaker (slow-call rate, or rates first judged at minimumCalls):
        // like the full path, this call reports the transition it caused.
        this.bulkhead?.leave();
        this.finish(this.takeTransition(undefined), 'success', 'none', 1, startMs, undefined);
        return value;
      }
      this.bulkhead?.leave();
      this.stats.successes++;
      if (startMs !== UNTIMED && this.measuring())
        this.recordDuration('success', clock.monoMs() - startMs);
      return value;
    }
    return this.executeFull(fn, thisArg, args, call, {
      isError,
      error,
      value,
      permit,
      timedOut,
      startMs,
    });
  }

  /**
   * The whole canonical order. `first` carries the outcome of an attempt the
   * fast path already made (its bulkhead slot, if any, is held): the gates are
   * skipped and the loop continues from that outcome.
   */
  private async executeFull(
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions,
    first: FirstAttempt | undefined,
  ): Promise<unknown> {
    const services = this.services;
    const observe = services.controls.observe;
    const clock = services.clock;
    const startMs = first !== undefined ? first.startMs : this.firstAttemptStartMs();
    const options = this.options;
    let record: CallRecord | undefined;
    let rejectedBy: RejectionReason | undefined;
    let timeoutScope: 'attempt' | 'total' | undefined;
    let neutralError = false;
    let entered = first !== undefined && this.bulkhead !== undefined;
    let claimKey: string | undefined;
    let claimVersion = 0;
    let attempt = 0;
    try {
      if (first === undefined) {
        // Rate limit and shared cooldown: before the call occupies any concurrency.
        if (this.limiter !== undefined) {
          let waitMs = this.limiter.acquire(clock.monoMs());
          if (waitMs === NEEDS_REFILL) {
            // A fleet-wide limiter's lease ran out: wait for its refill (bounded by the store budget).
            // Observe mode adds no latency: the refill runs in the background and the call goes on.
            const refill = this.limiter.acquireAsync!(clock.monoMs());
            waitMs = observe ? 0 : await refill;
          }
          if (waitMs === 0) this.stats.rateLimitAllowed++;
          else if (waitMs === NO_PERMIT) {
            this.stats.rateLimitRejected++;
            record = this.noteRejection(record, 'rate_limited', this.limiter.retryAfterMs, observe);
            if (!observe)
              throw this.rejectionError((rejectedBy = 'rate_limited'), this.limiter.retryAfterMs);
          } else {
            this.stats.rateLimitDelayed++;
            // Observe mode evaluates without adding latency: the wait is counted, not taken.
            if (!observe) await this.sleep(waitMs);
          }
        }
        if (this.cooldown.active) {
          const remainingMs = this.cooldown.remainingMs(clock.monoMs());
          if (remainingMs > 0) {
            record = this.noteRejection(record, 'cooldown', remainingMs, observe);
            if (!observe) throw this.rejectionError((rejectedBy = 'cooldown'), remainingMs);
          }
        }
        // Bulkhead: one slot per logical call, held through retries and backoff.
        const bulkhead = this.bulkhead;
        if (bulkhead !== undefined) {
          if (bulkhead.tryEnter()) entered = true;
          else if (observe) {
            // Would have queued or been rejected; observe mode neither waits nor rejects.
            record = this.noteRejection(record, 'bulkhead_full', undefined, true);
          } else if (bulkhead.canQueue) {
            record = this.note(record, {
              type: 'bulkhead.queued',
              dependency: this.name,
              queued: bulkhead.queued + 1,
              atWallMs: clock.wallMs(),
            });
            entered = await bulkhead.enqueue().then(
              () => true,
              () => false,
            );
            if (!entered) {
              record = this.noteRejection(record, 'bulkhead_full', undefined, observe);
              if (!observe)
                throw this.rejectionError(
                  (rejectedBy = 'bulkhead_full'),
                  undefined,
                  'queue_timeout',
                );
            }
          } else {
            record = this.noteRejection(record, 'bulkhead_full', undefined, observe);
            if (!observe)
              throw this.rejectionError((rejectedBy = 'bulkhead_full'), undefined, 'queue_full');
          }
        }
        // Idempotency: claim the key before any work, so retries reuse the claim.
        if (options.idempotency !== undefined && services.idempotency !== undefined) {
          claimKey = options.idempotency.key(args);
          if (claimKey !== undefined) {
            const decision = await services.idempotency
              .claim(
                `idem:${this.name}:${claimKey}`,
                options.idempotency.executionTtlMs,
                options.idempotency.ttlMs,
              )
              .catch((storeError: unknown) => {
                // The store cannot say whether the work already ran: fail closed (SPEC §6 outage contract).
                services.reportError('idempotency.claim', storeError);
                return { kind: 'unavailable' as const };
              });
            if (decision.kind === 'claimed') {
              claimVersion = decision.version;
              record = this.note(
                record,
                this.idempotencyEvent(decision.takeover ? 'takeover' : 'claimed'),
              );
            } else if (decision.kind === 'completed' && decision.result !== undefined) {
              record = this.note(record, this.idempotencyEvent('replayed'));
              claimKey = undefined;
              // Observe mode only reports the replay: the caller gets a fresh execution, as without Baldur.
              if (!observe) {
                this.finish(record, 'success', 'idempotency', 0, startMs, undefined);
                return decision.result.value;
              }
            } else {
              const status =
                decision.kind === 'executing' || decision.kind === 'unavailable'
                  ? decision.kind
                  : 'completed';
              const retryAfterMs =
                decision.kind === 'executing' ? decision.retryAfterMs : undefined;
              const key = claimKey;
              claimKey = undefined;
              record = this.noteRejection(record, 'idempotency_conflict', retryAfterMs, observe);
              if (!observe) {
                rejectedBy = 'idempotency_conflict';
                throw new IdempotencyConflictError(this.name, key, status, retryAfterMs);
              }
            }
          }
        }
      }

      // Total timeout → retry → circuit breaker → attempt timeout → the call.
      const retry = call.retrySafe ? options.retry : undefined;
      const maxAttempts = retry === undefined ? 1 : retry.maxAttempts;
      // The total timeout sits inside the rate limit, bulkhead and idempotency gates (SPEC §4):
      // waiting for a permit, a slot or a claim does not use it up.
      const totalDeadlineMs =
        options.totalTimeoutMs > 0 ? clock.monoMs() + options.totalTimeoutMs : Infinity;
      let previousDelayMs = 0;
      let pending = first;
      for (;;) {
        attempt++;
        const breaker = this.breaker;
        let permit = REJECTED;
        let value: unknown;
        let error: unknown;
        let isError = false;
        let timedOut: 'attempt' | 'total' | undefined;
        let observed: { limitMs: number; scope: 'attempt' | 'total'; startMs: number } | undefined;
        let attemptStartMs = startMs;
        if (pending !== undefined) {
          ({ permit, value, error, isError } = pending);
          timedOut = pending.timedOut ? 'attempt' : undefined;
          pending = undefined;
        } else {
          if (breaker !== undefined) {
            permit = breaker.tryAcquire();
            if (this.lastTransition !== undefined) record = this.takeTransition(record);
            if (permit === REJECTED) {
              const retryAfterMs = breaker.retryAfterMs();
              record = this.noteRejection(record, 'circuit_open', retryAfterMs, observe);
              if (!observe) {
                rejectedBy = 'circuit_open';
                throw new CircuitOpenError(this.name, retryAfterMs, breaker.state);
              }
            }
          }
          attemptStartMs = this.timeAttempts ? clock.monoMs() : 0;
          try {
            let limitMs = options.attemptTimeoutMs;
            let scope: 'attempt' | 'total' = 'attempt';
            if (totalDeadlineMs !== Infinity) {
              const remainingMs = totalDeadlineMs - clock.monoMs();
              if (remainingMs <= 0 && !observe)
                throw new TimeoutError(this.name, options.totalTimeoutMs, 'total');
              if (limitMs === 0 || remainingMs < limitMs) {
                limitMs = remainingMs;
                scope = 'total';
              }
            }
            const controller =
              options.passSignal && limitMs > 0 ? new AbortController() : undefined;
            const callArgs = options.passSignal
              ? [...args, controller?.signal ?? NEVER_ABORTED]
              : args;
            if (limitMs > 0 && !observe) {
              const race = new AttemptRace(
                services.deadlines,
                this.name,
                limitMs,
                scope,
                controller,
                call.onTimeout,
                scope === 'total' ? options.totalTimeoutMs : limitMs,
              );
              try {
                value = await race.run(
                  Promise.resolve(
                    attempt > 1
                      ? callAsResend(fn, thisArg, callArgs, attempt - 1)
                      : fn.apply(thisArg, callArgs as never[]),
                  ),
                );
              } finally {
                race.finish();
                if (race.fired) timedOut = scope;
              }
            } else {
              // Observe mode never cuts a call: it times it and reports a timeout it would have cut.
              if (observe && limitMs !== 0) observed = { limitMs, scope, startMs: clock.monoMs() };
              value = await (attempt > 1
                ? callAsResend(fn, thisArg, callArgs, attempt - 1)
                : fn.apply(thisArg, callArgs as never[]));
            }
          } catch (caught) {
            isError = true;
            error = caught;
          }
          if (observed !== undefined && clock.monoMs() - observed.startMs > observed.limitMs) {
            record = this.note(record, {
              type: 'timeout',
              dependency: this.name,
              scope: observed.scope,
              timeoutMs: observed.scope === 'total' ? options.totalTimeoutMs : observed.limitMs,
              attempt,
              observed: true,
              atWallMs: clock.wallMs(),
            });
          }
        }
        const verdict = timedOut !== undefined ? 'failure' : this.verdictOf(isError, error, value);
        if (permit !== REJECTED) {
          if (verdict === 'neutral') breaker!.release(permit);
          else {
            breaker!.record(
              permit,
              verdict === 'failure',
              this.timeAttempts ? clock.monoMs() - attemptStartMs : 0,
            );
            if (this.lastTransition !== undefined) record = this.takeTransition(record);
          }
        }
        if (verdict !== 'failure') {
          if (isError) {
            // A neutral error (the caller's own abort) is passed on as it is: no dead letter, no fallback.
            neutralError = verdict === 'neutral';
            throw error;
          }
          if (claimKey !== undefined) await this.completeClaim(claimKey, claimVersion, value);
          claimKey = undefined;
          this.finish(
            record,
            'success',
            attempt > 1 ? 'retry' : 'none',
            attempt,
            startMs,
            undefined,
          );
          return value;
        }

        // A failed attempt.
        if (timedOut !== undefined) {
          timeoutScope = timedOut;
          record = this.note(record, {
            type: 'timeout',
            dependency: this.name,
            scope: timedOut,
            timeoutMs: (error as TimeoutError).timeoutMs,
            attempt,
            observed: false,
            atWallMs: clock.wallMs(),
          });
        }
        const retryAfterMs =
          timedOut !== undefined
            ? undefined
            : options.classifier.retryAfterMs(isError ? error : value, isError, clock.wallMs());
        if (retryAfterMs !== undefined && options.cooldown)
          record = this.installCooldown(record, retryAfterMs);
        const plan =
          retry === undefined
            ? undefined
            : this.planRetry(
                retry,
                attempt,
                maxAttempts,
                isError,
                error,
                value,
                retryAfterMs,
                startMs,
                totalDeadlineMs,
                previousDelayMs,
              );
        if (plan === undefined || typeof plan === 'string') {
          if (plan !== undefined) {
            bump(this.stats.retryStops, plan);
            record = this.note(record, {
              type: 'retry.stopped',
              dependency: this.name,
              attempt,
              reason: plan,
              atWallMs: clock.wallMs(),
            });
          }
          if (isError) throw error;
          if (claimKey !== undefined) await this.releaseClaim(claimKey, claimVersion);
          claimKey = undefined;
          this.finish(
            record,
            'failure',
            attempt > 1 ? 'retry' : 'none',
            attempt,
            startMs,
            undefined,
          );
          return value;
        }
        this.stats.retriesScheduled++;
        record = this.note(record, {
          type: 'retry.scheduled',
          dependency: this.name,
          attempt,
          delayMs: plan,
          retryAfterMs,
          error: isError ? error : value,
          atWallMs: clock.wallMs(),
        });
        previousDelayMs = plan;
        timeoutScope = undefined;
        if (plan > 0) await this.sleep(plan);
      }
    } catch (error) {
      if (claimKey !== undefined) await this.releaseClaim(claimKey, claimVersion);
      let outcome: CallOutcome;
      let policy: DecidingPolicy;
      if (rejectedBy !== undefined) {
        outcome = 'rejected';
        policy = REJECTION_REASONS[rejectedBy];
      } else if (timeoutScope !== undefined && error instanceof TimeoutError) {
        outcome = 'timeout';
        policy = timeoutScope === 'total' ? 'total_timeout' : 'attempt_timeout';
      } else {
        outcome = 'failure';
        policy = attempt > 1 ? 'retry' : 'none';
      }
      const deadLetter = options.deadLetter;
      if (
        deadLetter !== undefined &&
        services.deadLetters !== undefined &&
        call.replay !== true &&
        !neutralError &&
        (outcome !== 'rejected' || deadLetter.capture === 'all')
      ) {
        const id = services.deadLetters.capture(
          this.name,
          args,
          error,
          outcome === 'rejected' ? 'rejected' : 'failure',
          call.trace?.(),
        );
        record ??= new CallRecord();
        record.events.push({
          type: 'dead_letter.captured',
          dependency: this.name,
          id,
          atWallMs: clock.wallMs(),
        });
      }
      if (options.fallback !== undefined && !neutralError) {
        record = this.note(record, {
          type: 'fallback.used',
          dependency: this.name,
          error,
          atWallMs: clock.wallMs(),
        });
        let value: unknown;
        try {
          value = await options.fallback(error, args);
        } catch (fallbackError) {
          this.finish(record, outcome, policy, attempt, startMs, fallbackError);
          throw fallbackError;
        }
        this.finish(record, 'fallback', 'fallback', attempt, startMs, error);
        return value;
      }
      this.finish(record, outcome, policy, attempt, startMs, error);
      throw error;
    } finally {
      if (entered) this.bulkhead!.leave();
    }
  }

  /**
   * Count a failure found after the call completed as a success — a response
   * whose body was cut mid-stream. Feeds the breaker; the call's own outcome
   * was already reported.
   */
  recordLateFailure(): void {
    this.stats.lateFailures++;
    this.outsideCall(() => this.breaker?.recordLateFailure());
  }

  /**
   * The classifier's verdict. A classifier that throws (a user's `isFailure`) is reported and
   * the default verdict applies: a classifier bug must not leak a bulkhead slot or a probe.
   */
  private verdictOf(isError: boolean, error: unknown, value: unknown): Verdict {
    const classifier = this.options.classifier;
    try {
      return isError ? classifier.classifyError(error) : classifier.classifyResult(value);
    } catch (classifierError) {
      this.services.reportError('classifier', classifierError);
      return isError
        ? defaultClassifier.classifyError(error)
        : defaultClassifier.classifyResult(value);
    }
  }

  /** @internal The breaker changed state: remembered for the next call's record, and announced. */
  breakerTransitioned(from: BreakerState, to: BreakerState, reason: string): void {
    const event: CallDecisionEvent = {
      type: 'circuit_breaker.state_change',
      dependency: this.name,
      from,
      to,
      reason,
      atWallMs: this.services.clock.wallMs(),
    };
    this.lastTransition = event;
    this.services.bus.emit(event);
  }

  /** A consistent view for status(), the admin API and observable metrics. */
  status(): PipelineStatus {
    return this.outsideCall(() => describePipeline(this, this.services.clock.monoMs()));
  }

  /** Operator control of the breaker (false when the pipeline has none). */
  forceOpen(ttlMs?: number): boolean {
    const breaker = this.breaker;
    if (breaker === undefined) return false;
    this.outsideCall(() => breaker.forceOpen(ttlMs));
    return true;
  }

  forceClose(ttlMs?: number): boolean {
    const breaker = this.breaker;
    if (breaker === undefined) return false;
    this.outsideCall(() => breaker.forceClose(ttlMs));
    return true;
  }

  resetBreaker(): boolean {
    const breaker = this.breaker;
    if (breaker === undefined) return false;
    this.outsideCall(() => breaker.reset());
    return true;
  }

  /** Close a half-open breaker whose fleet-wide probes succeeded (see `ProbeArbiter`). */
  closeAfterProbes(generation: number): boolean {
    return this.outsideCall(() => this.breaker?.closeAfterProbes(generation) ?? false);
  }

  /** Apply a breaker state decided by a peer process (shared store). */
  adoptBreakerState(state: BreakerState, remainingMs: number, reason?: string): void {
    this.outsideCall(() => this.breaker?.adopt(state, remainingMs, reason));
  }

  /**
   * Breaker operations that no call caused (operators, peers, a status read that
   * notices an expired forced state): their transitions are on the bus, but must
   * not be attached to the trace of whichever call comes next.
   */
  private outsideCall<T>(operation: () => T): T {
    try {
      return operation();
    } finally {
      this.lastTransition = undefined;
    }
  }

  /**
   * Decide whether to retry a failed attempt: the delay in ms, or why not. The
   * server's Retry-After is a floor on the delay; a hint beyond `maxDelayMs`
   * ends the retries (the cooldown, if on, turns later callers away meanwhile).
   */
  private planRetry(
    retry: RetryOptions,
    attempt: number,
    maxAttempts: number,
    isError: boolean,
    error: unknown,
    value: unknown,
    retryAfterMs: number | undefined,
    startMs: number,
    totalDeadlineMs: number,
    previousDelayMs: number,
  ): number | RetryStopReason {
    if (isError && error instanceof TimeoutError && error.scope === 'total') return 'deadline';
    if (attempt >= maxAttempts) return 'exhausted';
    const outcome: Outcome = isError ? { ok: false, error } : { ok: true, value };
    if (
      !isRetryableByDefault(outcome) ||
      (retry.retryIf !== undefined && !retry.retryIf(outcome))
    ) {
      return 'not_retryable';
    }
    if (
      this.breaker !== undefined &&
      (this.breaker.state === 'open' || this.breaker.state === 'forced_open')
    ) {
      return 'not_retryable';
    }
    if (retryAfterMs !== undefined && retryAfterMs > retry.maxDelayMs)
      return 'retry_after_too_long';
    const delayMs = Math.max(
      backoffDelayMs(retry, attempt, previousDelayMs, this.services.random),
      retryAfterMs ?? 0,
    );
    const nowMs = this.services.clock.monoMs();
    if (nowMs + delayMs >= totalDeadlineMs) return 'deadline';
    if (retry.maxElapsedMs > 0 && nowMs + delayMs - startMs >= retry.maxElapsedMs)
      return 'deadline';
    if (this.budget !== undefined && !this.budget.tryRetry(nowMs, this.callCount)) return 'budget';
    return delayMs;
  }

  private rejectionError(
    reason: 'rate_limited' | 'cooldown' | 'bulkhead_full',
    retryAfterMs: number | undefined,
    bulkheadReason: 'queue_full' | 'queue_timeout' = 'queue_full',
  ): BaldurError {
    switch (reason) {
      case 'rate_limited':
        return new RateLimitedError(this.name, retryAfterMs ?? 0);
      case 'cooldown':
        return new CooldownError(this.name, retryAfterMs ?? 0);
      case 'bulkhead_full':
        return new BulkheadFullError(this.name, bulkheadReason);
    }
  }

  private noteRejection(
    record: CallRecord | undefined,
    reason: RejectionReason,
    retryAfterMs: number | undefined,
    observed: boolean,
  ): CallRecord | undefined {
    bump(this.stats.rejections, reason);
    return this.note(record, {
      type: 'call.rejected',
      dependency: this.name,
      reason,
      policy: REJECTION_REASONS[reason],
      retryAfterMs,
      observed,
      atWallMs: this.services.clock.wallMs(),
    });
  }

  private installCooldown(
    record: CallRecord | undefined,
    retryAfterMs: number,
  ): CallRecord | undefined {
    if (retryAfterMs <= 0) return record; // "Retry-After: 0" asks for no back-off
    const { clock } = this.services;
    if (!this.cooldown.extendTo(clock.monoMs() + retryAfterMs)) return record;
    return this.note(record, {
      type: 'cooldown.installed',
      dependency: this.name,
      untilWallMs: clock.wallMs() + retryAfterMs,
      retryAfterMs,
      atWallMs: clock.wallMs(),
    });
  }

  private idempotencyEvent(decision: 'claimed' | 'replayed' | 'takeover'): CallDecisionEvent {
    return {
      type: 'idempotency.decision',
      dependency: this.name,
      decision,
      atWallMs: this.services.clock.wallMs(),
    };
  }

  private async completeClaim(key: string, version: number, value: unknown): Promise<void> {
    const gate = this.services.idempotency!;
    const limits = this.options.idempotency!;
    let json: string | undefined;
    try {
      json = JSON.stringify(value ?? null);
    } catch {
      json = undefined; // not serializable: duplicates get a conflict instead of a replay
    }
    if (json !== undefined && Buffer.byteLength(json) > limits.maxResultBytes) json = undefined;
    try {
      await gate.complete(`idem:${this.name}:${key}`, version, json, limits.ttlMs);
    } catch (error) {
      // The work is done; failing the caller now would invite a duplicate. The claim goes stale instead.
      this.services.reportError('idempotency.complete', error);
    }
  }

  private async releaseClaim(key: string, version: number): Promise<void> {
    try {
      await this.services.idempotency!.release(`idem:${this.name}:${key}`, version);
    } catch (error) {
      this.services.reportError('idempotency.release', error);
    }
  }

  private takeTransition(record: CallRecord | undefined): CallRecord {
    const event = this.lastTransition!;
    this.lastTransition = undefined;
    record ??= new CallRecord();
    record.events.push(event);
    return record;
  }

  private note(record: CallRecord | undefined, event: CallDecisionEvent): CallRecord {
    this.services.bus.emit(event);
    record ??= new CallRecord();
    record.events.push(event);
    return record;
  }

  private finish(
    record: CallRecord | undefined,
    outcome: CallOutcome,
    policy: DecidingPolicy,
    attempts: number,
    startMs: number,
    error: unknown,
  ): void {
    if (outcome === 'success') {
      this.stats.successes++;
      if (policy !== 'none') bump(this.stats.successPolicies, policy);
    } else this.stats.recordOutcome(outcome, policy);
    const { clock, bus } = this.services;
    const durationMs = startMs === UNTIMED ? 0 : clock.monoMs() - startMs;
    if (startMs !== UNTIMED && this.measuring()) this.recordDuration(outcome, durationMs);
    if (record !== undefined && bus.hasListeners('call.eventful')) {
      bus.emit({
        type: 'call.eventful',
        dependency: this.name,
        outcome,
        policy,
        attempts,
        startWallMs: clock.wallMs() - durationMs,
        durationMs,
        events: record.events,
        error,
      });
    }
  }

  /** Record a timed call's duration (only while `measuring()`). */
  private recordDuration(outcome: CallOutcome, durationMs: number): void {
    this.stats.recordDuration(outcome, durationMs);
    const sink = this.durations!.current;
    if (sink !== undefined) sink(this.name, outcome, durationMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise(resolve => this.services.clock.setTimer(resolve, ms));
  }
}

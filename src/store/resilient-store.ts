import { systemClock, type Clock, type TimerHandle } from '../core/clock';
import type { Disposable } from '../core/events';
import { DurationHistogram } from '../core/pipeline/duration-histogram';
import {
  CircuitBreaker,
  REJECTED,
  type TransitionListener,
} from '../core/policies/circuit-breaker/circuit-breaker';
import type { CircuitBreakerOptions } from '../core/policies/circuit-breaker/options';
import { DEAD_LETTER_COLLECTION } from '../core/policies/dead-letter/dead-letter-queue';
import type {
  PermitGrant,
  PermitRequest,
  RecordOptions,
  SetOptions,
  StateStore,
  StoredRecord,
  StoredValue,
  Subscription,
  WindowCount,
} from '../core/store';
import { StoreError } from '../core/store-errors';
import type { Logger } from '../log';
import type { BreakerState } from '../names/policies';
import { OUTBOX_DEFAULTS, Outbox, type OutboxEntry, type OutboxLimits } from './outbox';
import { STORE_TIMEOUT_DEFAULT_MS } from './store-defaults';

/**
 * The store's own breaker: three consecutive outage-type failures (or half of
 * the last 20 calls, once 10 were made) take the store out of service; one
 * probe per second (plus up to 20 % jitter) checks whether it is back, and
 * one successful probe brings it back. Errors the store answered with
 * (`failed`) count as successes: the store is up.
 */
export const STORE_BREAKER_DEFAULTS: CircuitBreakerOptions = Object.freeze({
  enabled: true,
  failureThreshold: 3,
  failureRateThreshold: 50,
  slidingWindowSize: 20,
  minimumCalls: 10,
  slowCallDurationMs: 0,
  slowCallRateThreshold: 100,
  recoveryTimeoutMs: 1_000,
  halfOpenMaxCalls: 1,
  successThreshold: 1,
});

/** Listing and counting records (admin and console paths, large values) get this many budgets. */
export const BULK_TIMEOUT_FACTOR = 4;
/** Key read by the background probe (any backend can answer a get). */
export const PROBE_KEY = '__baldur_probe__';

export type StoreOutcome = 'success' | 'failure' | 'timeout' | 'rejected';

/** Durations of one operation with one outcome, for `baldur.store.operation.duration`. */
export interface StoreOperationStat {
  readonly operation: string;
  readonly outcome: StoreOutcome;
  readonly histogram: DurationHistogram;
}

export interface StoreHealth {
  readonly kind: StateStore['kind'];
  /** False while the store's breaker is open or probing: features use their local fallback. */
  readonly available: boolean;
  readonly breaker: BreakerState;
  /** Wall-clock time the current availability began. */
  readonly sinceWallMs: number;
  /** The most recent outage-type error, for status pages (no secrets: driver messages). */
  readonly lastError: string | undefined;
  readonly outbox: { readonly queued: number; readonly bytes: number; readonly dropped: number };
}

export interface StoreHealthChange {
  readonly available: boolean;
  /** On recovery: how long the store was unavailable. */
  readonly downtimeMs: number | undefined;
}

export interface ResilientStoreOptions {
  /** Budget of one call, in milliseconds (`store.timeout`). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly breaker?: Partial<CircuitBreakerOptions>;
  /** Collections whose `addRecord` is buffered while the store is unavailable (default: dead letters). */
  readonly outboxCollections?: readonly string[];
  readonly outbox?: Partial<OutboxLimits>;
  /** Where the store is, for log lines (no credentials). */
  readonly description?: string;
  readonly random?: () => number;
}

interface PendingSubscription {
  readonly channel: string;
  readonly onMessage: (message: string) => void;
  live: Subscription | undefined;
  cancelled: boolean;
}

const noop = (): void => undefined;

/**
 * The outage contract, for every networked store (Redis, SQL):
 *
 * - every call has a budget (`timeoutMs`, listings 4×) and never takes longer;
 * - every call sits behind the store's own circuit breaker: while the store is
 *   down, calls fail at once instead of waiting, and one background probe (an
 *   unref'd timer, so it never keeps the process alive) checks for recovery;
 * - every failure is a typed `StoreError`, never anything else;
 * - dead letters written while the store is down wait in a bounded local
 *   outbox and are written, oldest first, as soon as it is back;
 * - the transition to unavailable and back is logged once each and announced
 *   to `onHealthChange` listeners (fleet features resynchronise on recovery);
 * - per-operation durations and outcomes are kept for telemetry
 *   (`operationStats()`, the `baldur.store.operation.duration` histogram).
 *
 * What each feature does while the store is unavailable is its own decision
 * (see the README's outage table); this decorator makes the outage fast,
 * typed and visible.
 */
export class ResilientStore implements StateStore, TransitionListener {
  readonly kind: StateStore['kind'];
  readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly breaker: CircuitBreaker;
  private readonly outbox: Outbox;
  private readonly outboxCollections: ReadonlySet<string>;
  private readonly description: string;
  private readonly random: () => number;
  private readonly stats = new Map<string, StoreOperationStat>();
  private recorder:
    ((operation: string, outcome: StoreOutcome, durationMs: number) => void) | undefined;
  private readonly listeners = new Set<(change: StoreHealthChange) => void>();
  private readonly pendingSubscriptions = new Set<PendingSubscription>();
  private probeTimer: TimerHandle | undefined;
  private drainTimer: TimerHandle | undefined;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private sinceWallMs: number;
  private downSinceMs: number | undefined;
  private lastError: string | undefined;
  private droppedThisOutage = 0;

  constructor(
    readonly inner: StateStore,
    options: ResilientStoreOptions = {},
  ) {
    this.kind = inner.kind;
    this.timeoutMs = options.timeoutMs ?? STORE_TIMEOUT_DEFAULT_MS;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.random = options.random ?? Math.random;
    this.description = options.description ?? inner.kind;
    this.outbox = new Outbox({ ...OUTBOX_DEFAULTS, ...options.outbox });
    this.outboxCollections = new Set(options.outboxCollections ?? [DEAD_LETTER_COLLECTION]);
    this.breaker = new CircuitBreaker(
      { ...STORE_BREAKER_DEFAULTS, ...options.breaker },
      this.clock,
      this,
    );
    this.sinceWallMs = this.clock.wallMs();
  }

  /** False while the store is considered down (breaker open or probing). */
  get available(): boolean {
    return this.breaker.state === 'closed';
  }

  health(): StoreHealth {
    return {
      kind: this.kind,
      available: this.available,
      breaker: this.breaker.state,
      sinceWallMs: this.sinceWallMs,
      lastError: this.lastError,
      outbox: {
        queued: this.outbox.length,
        bytes: this.outbox.bytes,
        dropped: this.outbox.dropped,
      },
    };
  }

  /** Told when the store becomes unavailable and when it recovers (listeners must not throw; if they do, it is logged). */
  onHealthChange(listener: (change: StoreHealthChange) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  /** Durations by operation and outcome since start (cumulative). */
  operationStats(): StoreOperationStat[] {
    return [...this.stats.values()];
  }

  /**
   * Also report every operation as it completes (telemetry attached to an SDK
   * the application owns, which cannot read `operationStats()` at collection
   * time). Store operations are off the calls' path, so this costs no call.
   */
  onOperation(
    recorder: ((operation: string, outcome: StoreOutcome, durationMs: number) => void) | undefined,
  ): void {
    this.recorder = recorder;
  }

  /** Records waiting in the outbox, oldest first. */
  queuedRecords(): { collection: string; id: string }[] {
    return this.outbox.ids();
  }

  get(key: string): Promise<StoredValue | undefined> {
    return this.call('get', () => this.inner.get(key));
  }

  set(key: string, value: string, options?: SetOptions): Promise<number | undefined> {
    return this.call('set', () => this.inner.set(key, value, options));
  }

  delete(key: string, ifVersion?: number): Promise<boolean> {
    return this.call('delete', () => this.inner.delete(key, ifVersion));
  }

  increment(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    return this.call('increment', () => this.inner.increment(key, delta, windowMs));
  }

  raise(key: string, value: number, ttlMs: number): Promise<number> {
    return this.call('raise', () => this.inner.raise(key, value, ttlMs));
  }

  takePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    return this.call('takePermits', () => this.inner.takePermits(key, request));
  }

  addRecord(collection: string, id: string, value: string, options: RecordOptions): Promise<void> {
    if (!this.outboxCollections.has(collection) || this.closed) {
      return this.call('addRecord', () => this.inner.addRecord(collection, id, value, options));
    }
    // Behind records already waiting, or while the store is down: queue, to keep the order.
    if (this.outbox.length > 0 || !this.available) {
      this.enqueue(collection, id, value, options);
      return Promise.resolve();
    }
    return this.call('addRecord', () => this.inner.addRecord(collection, id, value, options)).catch(
      (error: StoreError) => {
        if (!error.unavailable) throw error;
        // Timed out writes may have landed: writing them again is harmless (same id).
        this.enqueue(collection, id, value, options);
      },
    );
  }

  getRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    return this.call('getRecord', () => this.inner.getRecord(collection, id));
  }

  updateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion?: number,
  ): Promise<number | undefined> {
    return this.call('updateRecord', () =>
      this.inner.updateRecord(collection, id, value, ifVersion),
    );
  }

  listRecords(
    collection: string,
    options: { limit: number; beforeId?: string },
  ): Promise<StoredRecord[]> {
    return this.call(
      'listRecords',
      () => this.inner.listRecords(collection, options),
      this.timeoutMs * BULK_TIMEOUT_FACTOR,
    );
  }

  removeRecord(collection: string, id: string): Promise<boolean> {
    return this.call('removeRecord', () => this.inner.removeRecord(collection, id));
  }

  countRecords(collection: string): Promise<number> {
    return this.call(
      'countRecords',
      () => this.inner.countRecords(collection),
      this.timeoutMs * BULK_TIMEOUT_FACTOR,
    );
  }

  publish(channel: string, message: string): Promise<void> {
    return this.call('publish', () => this.inner.publish(channel, message));
  }

  /**
   * Resolves once the subscription is live — or, when the store is down,
   * at once with a subscription that goes live when it recovers (messages
   * published meanwhile are not delivered; `onHealthChange` says when to
   * resynchronise). Rejects only with a non-outage `StoreError`.
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    const pending: PendingSubscription = { channel, onMessage, live: undefined, cancelled: false };
    try {
      pending.live = await this.call(
        'subscribe',
        () => this.inner.subscribe(channel, onMessage),
        this.timeoutMs,
        late => void late.unsubscribe().catch(noop), // retried on recovery instead
      );
    } catch (error) {
      if (!(error as StoreError).unavailable || this.closed) throw error;
      this.pendingSubscriptions.add(pending);
    }
    return {
      unsubscribe: async () => {
        pending.cancelled = true;
        this.pendingSubscriptions.delete(pending);
        const live = pending.live;
        pending.live = undefined;
        await live?.unsubscribe().catch(noop);
      },
    };
  }

  /** Write what the outbox holds now (it also happens by itself on recovery). */
  async flush(): Promise<void> {
    await this.draining; // one that started before the store came back may have stopped early
    await this.drain(false);
  }

  /**
   * Stop probing, give queued records one last bounded chance (4 budgets, at
   * least 1 s), report any that could not be written, and close the backend.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.stopProbing();
      this.pendingSubscriptions.clear();
      if (this.outbox.length > 0) {
        const budgetMs = Math.max(1_000, BULK_TIMEOUT_FACTOR * this.timeoutMs);
        const final = (async () => {
          await this.draining; // a drain in progress stops after its current record
          await this.drain(true);
        })();
        await raceTimer(final, budgetMs);
        if (this.outbox.length > 0) {
          const ids = this.outbox.ids();
          this.logger?.error(
            `state store (${this.description}) still unavailable at shutdown: ${ids.length} queued record(s) are lost (${ids
              .slice(0, 20)
              .map(r => `${r.collection}/${r.id}`)
              .join(', ')}${ids.length > 20 ? ', …' : ''})`,
          );
        }
      }
      await raceTimer(this.inner.close().catch(noop), Math.max(1_000, this.timeoutMs));
    })();
    return this.closing;
  }

  /**
   * One store call: through the breaker, bounded by `budgetMs`, failing only
   * with a `StoreError`. `onLate` receives a result that arrived after the
   * caller was already told "timeout".
   */
  private call<T>(
    operation: string,
    body: () => Promise<T>,
    budgetMs = this.timeoutMs,
    onLate?: (value: T) => void,
    bypassBreaker = false,
  ): Promise<T> {
    if (this.closed && !bypassBreaker) {
      return Promise.reject(new StoreError(this.kind, operation, 'closed', 'the store is closed'));
    }
    const permit = bypassBreaker ? -2 : this.breaker.tryAcquire();
    if (permit === REJECTED) {
      this.record(operation, 'rejected', 0);
      return Promise.reject(
        new StoreError(
          this.kind,
          operation,
          'circuit_open',
          'unavailable (recent calls failed; probing in the background)',
          { retryAfterMs: this.breaker.retryAfterMs() ?? this.timeoutMs },
        ),
      );
    }
    const startMs = this.clock.monoMs();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = this.clock.setTimer(() => {
        if (settled) return;
        settled = true;
        const error = new StoreError(
          this.kind,
          operation,
          'timeout',
          `no answer within ${budgetMs} ms`,
        );
        this.finish(permit, operation, startMs, error);
        reject(error);
      }, budgetMs);
      let pending: Promise<T>;
      try {
        pending = body();
      } catch (error) {
        pending = Promise.reject(this.typed(operation, error));
      }
      pending.then(
        value => {
          if (settled) {
            if (onLate !== undefined) onLate(value);
            return;
          }
          settled = true;
          this.clock.clearTimer(timer);
          this.finish(permit, operation, startMs, undefined);
          resolve(value);
        },
        (cause: unknown) => {
          if (settled) return;
          settled = true;
          this.clock.clearTimer(timer);
          const error = this.typed(operation, cause);
          this.finish(permit, operation, startMs, error);
          reject(error);
        },
      );
    });
  }

  private typed(operation: string, cause: unknown): StoreError {
    if (cause instanceof StoreError) return cause;
    // A backend that did not classify its error: assume an outage (the safe side for the breaker).
    const message = cause instanceof Error ? cause.message : String(cause);
    return new StoreError(this.kind, operation, 'unavailable', message, { cause });
  }

  private finish(
    permit: number,
    operation: string,
    startMs: number,
    error: StoreError | undefined,
  ): void {
    const durationMs = this.clock.monoMs() - startMs;
    const outage = error !== undefined && error.unavailable;
    this.record(
      operation,
      error === undefined ? 'success' : error.reason === 'timeout' ? 'timeout' : 'failure',
      durationMs,
    );
    if (outage) this.lastError = `${operation}: ${error.detail}`;
    if (permit >= 0) this.breaker.record(permit, outage, durationMs);
  }

  private record(operation: string, outcome: StoreOutcome, durationMs: number): void {
    const key = `${operation}|${outcome}`;
    let stat = this.stats.get(key);
    if (stat === undefined) {
      stat = { operation, outcome, histogram: new DurationHistogram() };
      this.stats.set(key, stat);
    }
    stat.histogram.record(durationMs);
    this.recorder?.(operation, outcome, durationMs);
  }

  /** @internal The store's breaker changed state: log the outage or the recovery once. */
  breakerTransitioned(from: BreakerState, to: BreakerState): void {
    if (to === 'open' && from === 'closed') {
      this.sinceWallMs = this.clock.wallMs();
      this.downSinceMs = this.clock.monoMs();
      this.droppedThisOutage = 0;
      this.logger?.warn(
        `state store (${this.description}) unavailable${this.lastError === undefined ? '' : ` (${this.lastError})`}: shared state degrades to local decisions, dead letters are buffered locally; probing every ${this.breaker.options.recoveryTimeoutMs} ms`,
      );
      this.notify({ available: false, downtimeMs: undefined });
    }
    if (to === 'open') this.scheduleProbe();
    if (to === 'closed' && from !== 'closed') {
      const downtimeMs =
        this.downSinceMs === undefined ? undefined : this.clock.monoMs() - this.downSinceMs;
      this.downSinceMs = undefined;
      this.sinceWallMs = this.clock.wallMs();
      this.stopProbing();
      this.logger?.warn(
        `state store (${this.description}) recovered${downtimeMs === undefined ? '' : ` after ${Math.round(downtimeMs)} ms`}${this.outbox.length > 0 ? `; writing ${this.outbox.length} buffered record(s)` : ''}`,
      );
      this.notify({ available: true, downtimeMs });
      void this.drain(false);
      this.resubscribe();
    }
  }

  private notify(change: StoreHealthChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger?.warn('a store health listener threw', error);
      }
    }
  }

  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || this.closed) return;
    const delayMs = this.breaker.options.recoveryTimeoutMs * (1 + 0.2 * this.random());
    this.probeTimer = this.clock.setTimer(() => {
      this.probeTimer = undefined;
      void this.probe();
    }, delayMs);
    this.probeTimer.unref?.();
  }

  private stopProbing(): void {
    if (this.probeTimer !== undefined) this.clock.clearTimer(this.probeTimer);
    this.probeTimer = undefined;
    if (this.drainTimer !== undefined) this.clock.clearTimer(this.drainTimer);
    this.drainTimer = undefined;
  }

  private async probe(): Promise<void> {
    if (this.closed || this.available) return;
    await this.call('probe', () => this.inner.get(PROBE_KEY)).catch(noop);
    // Still down (or an application call held the probe slot): try again later.
    if (!this.closed && this.breaker.state !== 'closed') this.scheduleProbe();
  }

  private enqueue(collection: string, id: string, value: string, options: RecordOptions): void {
    const dropped = this.outbox.push({
      collection,
      id,
      value,
      options,
      queuedAtMs: this.clock.monoMs(),
    });
    if (dropped > 0) {
      if (this.droppedThisOutage === 0) {
        this.logger?.error(
          `state store (${this.description}) outbox full (${this.outbox.limits.maxEntries} records / ${this.outbox.limits.maxBytes} bytes): dropping the oldest buffered records`,
        );
      }
      this.droppedThisOutage += dropped;
    }
    if (this.available) void this.drain(false);
  }

  /**
   * Write queued records oldest first, until the outbox is empty or the store
   * fails again. A drain cut short while the breaker is still closed (one
   * failure is not an outage yet) is retried on a timer; after an outage, the
   * recovery starts the next one.
   */
  private drain(final: boolean): Promise<void> {
    if (this.draining !== undefined) return this.draining;
    const run = async (): Promise<void> => {
      for (;;) {
        const entry = this.outbox.peek();
        if (entry === undefined || (!final && (this.closed || !this.available))) return;
        if (!(await this.writeQueued(entry, final))) return;
      }
    };
    const draining: Promise<void> = run().finally(() => {
      if (this.draining === draining) this.draining = undefined;
      if (this.outbox.length > 0 && this.available && !this.closed) this.scheduleDrain();
    });
    this.draining = draining;
    return draining;
  }

  private scheduleDrain(): void {
    if (this.drainTimer !== undefined) return;
    this.drainTimer = this.clock.setTimer(() => {
      this.drainTimer = undefined;
      void this.drain(false);
    }, this.breaker.options.recoveryTimeoutMs);
    this.drainTimer.unref?.();
  }

  /** False when the store failed (stop draining); a poisonous record is dropped and reported. */
  private async writeQueued(entry: OutboxEntry, final: boolean): Promise<boolean> {
    let options = entry.options;
    if (options.ttlMs !== undefined) {
      const ttlMs = options.ttlMs - (this.clock.monoMs() - entry.queuedAtMs);
      if (ttlMs <= 0) {
        this.outbox.remove(entry); // expired while it waited, as it would have in the store
        return true;
      }
      options = { ...options, ttlMs };
    }
    try {
      await this.call(
        'addRecord',
        () => this.inner.addRecord(entry.collection, entry.id, entry.value, options),
        this.timeoutMs,
        undefined,
        final,
      );
      this.outbox.remove(entry);
      return true;
    } catch (error) {
      if ((error as StoreError).unavailable) return false;
      this.outbox.remove(entry);
      this.logger?.error(
        `state store (${this.description}) refused buffered record ${entry.collection}/${entry.id}; it is dropped`,
        error,
      );
      return true;
    }
  }

  private resubscribe(): void {
    for (const pending of [...this.pendingSubscriptions]) {
      this.pendingSubscriptions.delete(pending);
      this.call(
        'subscribe',
        () => this.inner.subscribe(pending.channel, pending.onMessage),
        this.timeoutMs,
        late => void late.unsubscribe().catch(noop),
      ).then(
        live => {
          if (pending.cancelled) void live.unsubscribe().catch(noop);
          else pending.live = live;
        },
        () => {
          if (!pending.cancelled && !this.closed) this.pendingSubscriptions.add(pending);
        },
      );
    }
  }
}

/** Wait for `promise`, at most `ms` (a timer that does not keep the process alive). */
function raceTimer(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>(resolve => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

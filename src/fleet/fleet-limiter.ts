import {
  GcraLimiter,
  NEEDS_REFILL,
  NO_PERMIT,
  type PermitSource,
} from '../core/policies/rate-limit/gcra';
import type { RateLimitOptions } from '../core/policies/rate-limit/options';
import type { TimerHandle } from '../core/clock';
import { StoreError } from '../core/store-errors';
import { isClosedStore, type FleetContext } from './context';
import { LeaseSizer } from './lease-sizing';
import { rateLimitKey } from './names';

/** How long to stay on the fallback after a failed refill when the store gives no hint. */
const STORE_RETRY_MS = 1_000;
/** Refills one waiting caller may go through before it is turned away (others took the permits). */
const MAX_REFILL_ROUNDS = 8;

export interface FleetLimiterContext {
  readonly fleet: FleetContext;
  /** Workers sharing the limit, for the per-process fallback (≥ 1). */
  readonly workers: () => number;
}

/**
 * A fleet-wide rate limit as a `PermitSource`: exact across every worker that
 * shares the store, without a store round trip per call.
 *
 * Permits are leased in batches from the store's atomic GCRA (`takePermits`)
 * and spent locally by the synchronous `acquire`, the fast path. When the
 * lease runs out `acquire` answers `NEEDS_REFILL` and the caller awaits
 * `acquireAsync`, which joins a single in-flight refill — a call waits for
 * permits instead of being rejected falsely. A refill that gets less than
 * it asked for (the bucket is empty) blocks further refills until the bucket
 * has refilled a little (the store's retry-after, at least a tenth of a
 * lease lifetime): calls meanwhile spend what was granted, then are rejected
 * locally, while permits accrue in the store; if calls keep coming, the next
 * refill then starts by itself in the background (an unref'd timer, only
 * while the bucket is empty), and calls that cannot wait are turned away
 * until it lands instead of all waiting for it. Under steady demand
 * (batches of 4 or more) the next refill starts in the background when half
 * of the batch is left.
 *
 * Overshoot: none — every permit spent was granted by the store. Undershoot:
 * leased permits unused when their lease expires (see LeaseSizer).
 *
 * While the store is unavailable (its breaker open, or a refill failed)
 * leased permits are still spent, then `store.rateLimitFallback` decides:
 * `local` enforces limit ÷ workers in this process, `open` admits, `closed`
 * rejects. The next refill after the store recovers ends the fallback.
 */
export class FleetLimiter implements PermitSource {
  retryAfterMs = 0;
  /** Permits granted by the store so far, and those dropped unused at lease expiry. */
  granted = 0;
  expired = 0;
  private leased = 0;
  private leaseExpiresMs = 0;
  private blockedUntilMs = 0;
  private fallbackUntilMs = 0;
  private local: GcraLimiter | undefined;
  private refilling: Promise<void> | undefined;
  private waiting = 0;
  private batchSize = 1;
  /** While the bucket is empty: the timer of the next (background) refill, and calls turned away meanwhile. */
  private nextRefill: TimerHandle | undefined;
  private turnedAway = 0;
  /** A background refill of an empty bucket is in flight: calls that cannot wait are turned away. */
  private backgroundRefill = false;
  private readonly key: string;
  private readonly intervalMs: number;
  private readonly sizer: LeaseSizer;

  constructor(
    readonly name: string,
    readonly options: RateLimitOptions,
    private readonly context: FleetLimiterContext,
  ) {
    this.key = rateLimitKey(name);
    this.intervalMs = options.perMs / options.limit;
    this.sizer = new LeaseSizer(options, context.fleet.clock.monoMs());
  }

  /** Whether calls are currently decided by the fallback (store unavailable). */
  get fallbackActive(): boolean {
    return (
      this.context.fleet.clock.monoMs() < this.fallbackUntilMs ||
      !this.context.fleet.health.available
    );
  }

  acquire(nowMs: number): number {
    this.sizer.note();
    if (this.leased > 0) {
      if (nowMs < this.leaseExpiresMs) {
        this.leased--;
        // Refill ahead only under real demand: a prefetched permit nobody uses is undershoot.
        if (
          this.batchSize >= 4 &&
          this.leased * 2 <= this.batchSize &&
          this.refilling === undefined
        )
          this.prefetch(nowMs);
        return 0;
      }
      this.expire();
    }
    if (nowMs < this.fallbackUntilMs || !this.context.fleet.health.available)
      return this.fallback(nowMs);
    if (nowMs < this.blockedUntilMs && this.blockedUntilMs - nowMs > this.options.maxWaitMs) {
      this.turnedAway++;
      this.retryAfterMs = this.blockedUntilMs - nowMs;
      return NO_PERMIT;
    }
    if (this.backgroundRefill && this.options.maxWaitMs === 0) {
      // The bucket was empty and its next refill is on the way: as if the pause lasted until then.
      this.turnedAway++;
      this.retryAfterMs = this.sizer.ttlMs / 10;
      return NO_PERMIT;
    }
    return NEEDS_REFILL;
  }

  async acquireAsync(nowMs: number): Promise<number> {
    const clock = this.context.fleet.clock;
    const deadlineMs = nowMs + this.options.maxWaitMs;
    this.waiting++;
    try {
      for (let round = 0; round < MAX_REFILL_ROUNDS; round++) {
        const now = clock.monoMs();
        if (this.leased > 0) {
          if (now < this.leaseExpiresMs) {
            this.leased--;
            return 0;
          }
          this.expire();
        }
        if (now < this.fallbackUntilMs || !this.context.fleet.health.available)
          return this.fallback(now);
        if (now < this.blockedUntilMs) {
          if (this.blockedUntilMs > deadlineMs) {
            this.retryAfterMs = this.blockedUntilMs - now;
            return NO_PERMIT;
          }
          await new Promise<void>(resolve =>
            clock.setTimer(resolve, this.blockedUntilMs - clock.monoMs()),
          );
          continue;
        }
        await this.refill(now);
      }
      this.retryAfterMs = this.intervalMs;
      return NO_PERMIT;
    } finally {
      this.waiting--;
    }
  }

  private prefetch(nowMs: number): void {
    if (nowMs < this.blockedUntilMs || nowMs < this.fallbackUntilMs) return;
    if (!this.context.fleet.health.available) return;
    void this.refill(nowMs);
  }

  /** One refill at a time; resolves when it is done (it never rejects). */
  private refill(nowMs: number): Promise<void> {
    this.refilling ??= this.takeFromStore(nowMs).finally(() => {
      this.refilling = undefined;
    });
    return this.refilling;
  }

  private async takeFromStore(nowMs: number): Promise<void> {
    const fleet = this.context.fleet;
    this.batchSize = this.sizer.batch(nowMs, this.waiting);
    try {
      const grant = await fleet.store.takePermits(this.key, {
        requested: this.batchSize,
        limit: this.options.limit,
        perMs: this.options.perMs,
        burst: this.options.burst,
      });
      const now = fleet.clock.monoMs();
      if (this.fallbackUntilMs !== 0 || this.local !== undefined) this.leaveFallback();
      if (grant.granted > 0) {
        if (this.leased > 0 && now >= this.leaseExpiresMs) this.expire();
        this.leased += grant.granted;
        this.granted += grant.granted;
        this.leaseExpiresMs = now + this.sizer.ttlMs;
      }
      // Less than asked for: the bucket is empty now. Permits accrue in the store meanwhile
      // (up to the burst), so none is lost by asking again a little later — and asking at once
      // would only make every caller wait a round trip for a handful. If calls keep coming,
      // that later refill starts by itself, in the background, so that none of them waits.
      if (grant.granted < this.batchSize) {
        const pauseMs = Math.max(grant.retryAfterMs, this.sizer.ttlMs / 10);
        this.blockedUntilMs = now + pauseMs;
        this.scheduleRefill(pauseMs);
      } else this.blockedUntilMs = 0;
      fleet.succeeded('rate_limit.refill');
    } catch (error) {
      fleet.report('rate_limit.refill', error);
      const hint = error instanceof StoreError ? error.retryAfterMs : undefined;
      this.fallbackUntilMs = fleet.clock.monoMs() + Math.max(50, hint ?? STORE_RETRY_MS);
      // A store closed by shutdown is not an outage: fall back quietly.
      if (isClosedStore(error)) return;
      fleet.logger.once(
        `fleet:rate-limit-fallback:${this.name}`,
        'warn',
        `fleet-wide rate limit of "${this.name}" cannot reach the store: ${describeFallback(fleet.settings.rateLimitFallback)} until it recovers`,
      );
    }
  }

  /** After `pauseMs`, refill in the background if calls were turned away meanwhile (an unref'd timer, only while the bucket is empty). */
  private scheduleRefill(pauseMs: number): void {
    if (this.nextRefill !== undefined) return;
    this.turnedAway = 0;
    const clock = this.context.fleet.clock;
    this.nextRefill = clock.setTimer(() => {
      this.nextRefill = undefined;
      if (this.turnedAway === 0 || this.refilling !== undefined) return;
      this.backgroundRefill = true;
      void this.refill(clock.monoMs()).finally(() => {
        this.backgroundRefill = false;
      });
    }, pauseMs);
    this.nextRefill.unref?.();
  }

  private fallback(nowMs: number): number {
    switch (this.context.fleet.settings.rateLimitFallback) {
      case 'open':
        return 0;
      case 'closed':
        this.retryAfterMs = Math.max(this.intervalMs, this.fallbackUntilMs - nowMs, 1);
        return NO_PERMIT;
      case 'local': {
        this.local ??= this.localLimiter();
        const waitMs = this.local.acquire(nowMs);
        if (waitMs === NO_PERMIT) this.retryAfterMs = this.local.retryAfterMs;
        return waitMs;
      }
    }
  }

  /** The per-process share of the limit: the same burst and rate divided among the workers. */
  private localLimiter(): GcraLimiter {
    const workers = Math.max(1, Math.floor(this.context.workers()));
    return new GcraLimiter({
      limit: this.options.limit,
      perMs: this.options.perMs * workers,
      burst: Math.max(1, Math.floor(this.options.burst / workers)),
      maxWaitMs: this.options.maxWaitMs,
    });
  }

  private leaveFallback(): void {
    this.fallbackUntilMs = 0;
    this.local = undefined;
    this.context.fleet.logger.clear(`fleet:rate-limit-fallback:${this.name}`);
  }

  private expire(): void {
    this.expired += this.leased;
    this.leased = 0;
  }
}

function describeFallback(mode: 'local' | 'open' | 'closed'): string {
  switch (mode) {
    case 'local':
      return 'enforced per process (limit ÷ workers)';
    case 'open':
      return 'calls are let through';
    case 'closed':
      return 'calls are rejected';
  }
}

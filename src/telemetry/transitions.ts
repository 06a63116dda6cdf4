import type { BreakerStateChangeEvent, Disposable, EventBus } from '../core/events';
import type { BreakerState } from '../names/policies';
import type { Logger } from '../log';

export interface TransitionCount {
  readonly dependency: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  count: number;
}

/**
 * Every circuit breaker transition of this process: counted from the start
 * (the `baldur.circuit_breaker.transitions` counter reads the totals, even
 * though the SDK may start later) and logged once, as one `info` line.
 * Transitions are rare, so this costs nothing on the call path.
 */
export class TransitionLog {
  private readonly counts = new Map<string, TransitionCount>();
  private readonly subscription: Disposable;

  constructor(
    bus: EventBus,
    private readonly logger: Logger,
  ) {
    this.subscription = bus.on('circuit_breaker.state_change', event => this.record(event));
  }

  totals(): IterableIterator<TransitionCount> {
    return this.counts.values();
  }

  dispose(): void {
    this.subscription.dispose();
  }

  private record(event: BreakerStateChangeEvent): void {
    const key = `${event.dependency}\u0000${event.from}\u0000${event.to}`;
    const entry = this.counts.get(key);
    if (entry === undefined) {
      this.counts.set(key, {
        dependency: event.dependency,
        from: event.from,
        to: event.to,
        count: 1,
      });
    } else entry.count++;
    this.logger.info(
      `circuit breaker ${event.dependency}: ${event.from} -> ${event.to} (${event.reason})`,
    );
  }
}

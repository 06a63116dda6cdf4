import type { Subscription } from '../core/store';
import type { Codec } from './codec';
import { background, type FleetContext } from './context';
import { FLEET_CHANNEL, SEQUENCE_KEY } from './names';
import { messageCodec, type FleetMessage } from './records';

/** The fleet sequence counter's lifetime; when it lapses the counter restarts, which reads as a change. */
const SEQUENCE_WINDOW_MS = 24 * 3_600_000;

export type MessageHandler = (body: unknown, from: string) => void;

/**
 * The fleet's one pub/sub channel and its change counter.
 *
 * Every shared change (a breaker transition, a cooldown, the kill switch) is
 * stored first, then announced: a `FleetMessage` on channel `fleet` for
 * peers to apply at once, and a bump of the `fleet-sequence` counter. Pub/sub
 * is fire-and-forget (a subscriber that is reconnecting misses messages), so
 * every instance also reads the counter periodically and re-reads the stored
 * state when it moved (see Fleet.reconcile).
 */
export class FleetChannel {
  private readonly handlers = new Map<FleetMessage['type'], MessageHandler>();
  private subscription: Subscription | undefined;
  private closed = false;
  /** Messages received since the last reconciliation read, and reads in a row that found news but no message. */
  private received = 0;
  private silentChanges = 0;
  /** Last sequence value this instance knows about (its own bumps included). */
  lastSequence: number | undefined;

  constructor(private readonly context: FleetContext) {}

  on(type: FleetMessage['type'], handler: MessageHandler): void {
    this.handlers.set(type, handler);
  }

  async open(): Promise<void> {
    try {
      const subscription = await this.context.store.subscribe(FLEET_CHANNEL, message =>
        this.receive(message),
      );
      if (this.closed) await subscription.unsubscribe();
      else this.subscription = subscription;
    } catch (error) {
      this.context.report('subscribe', error);
    }
  }

  /** Announce a stored change (background; failures are reported, reconciliation heals). */
  announce<T>(type: FleetMessage['type'], codec: Codec<T>, body: T): void {
    const message = messageCodec.encode({
      type,
      from: this.context.instanceId,
      body: codec.toObject(body),
    });
    background(this.context, 'publish', () => this.context.store.publish(FLEET_CHANNEL, message));
    background(this.context, 'sequence', async () => {
      const count = await this.context.store.increment(SEQUENCE_KEY, 1, SEQUENCE_WINDOW_MS);
      // Our own bump is not news to the reconciler (unless others moved it too).
      if (this.lastSequence === count.value - 1) this.lastSequence = count.value;
    });
  }

  /**
   * Read the change counter; true when it moved since the last read. Rejects
   * with the store's error. Peers changed things twice in a row without a
   * single message arriving: the subscription is presumed dead (a subscribe
   * that timed out, a subscriber connection that never came back) and is
   * made again.
   */
  async changed(): Promise<boolean> {
    // A read, not an increment of 0: every instance does this every period, and on SQL a
    // write would contend on one row.
    const stored = await this.context.store.get(SEQUENCE_KEY);
    const value = stored === undefined ? 0 : Number(stored.value);
    const moved =
      this.lastSequence !== undefined && (value !== this.lastSequence || Number.isNaN(value));
    const first = this.lastSequence === undefined;
    this.lastSequence = value;
    if (moved && this.received === 0) {
      if (++this.silentChanges >= 2) {
        this.silentChanges = 0;
        this.context.logger.debug('fleet channel: changes without messages; subscribing again');
        void this.resubscribe();
      }
    } else this.silentChanges = 0;
    this.received = 0;
    return moved || first;
  }

  async close(): Promise<void> {
    this.closed = true;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.unsubscribe().catch(() => undefined);
  }

  private async resubscribe(): Promise<void> {
    const previous = this.subscription;
    this.subscription = undefined;
    await previous?.unsubscribe().catch(() => undefined);
    if (!this.closed) await this.open();
  }

  private receive(text: string): void {
    this.received++;
    const decoded = messageCodec.decode(text);
    if (!decoded.ok) {
      this.context.unreadable(decoded.error);
      return;
    }
    const { type, from, body } = decoded.value;
    if (from === this.context.instanceId) return;
    this.handlers.get(type)?.(body, from);
  }
}

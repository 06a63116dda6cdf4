import type { Redis } from 'ioredis';
import type { Subscription } from '../../core/store';
import { ConnectionGate, connectionError, toStoreError } from './connection';

type Handler = (message: string) => void;

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2_000;

/**
 * Publish/subscribe over one dedicated subscriber connection per store.
 *
 * Handlers are kept here, by channel, not in the connection: when the
 * connection drops, a new one is made after a short backoff (unref'd timers,
 * 100 ms doubling to 2 s, with jitter) and every channel that still has a
 * handler is subscribed again as soon as it is ready. Messages published
 * while no subscriber connection was up are lost (Redis pub/sub is
 * fire-and-forget): features resynchronise from stored state on recovery.
 */
export class RedisPubSub {
  private readonly handlers = new Map<string, Set<Handler>>();
  private subscriber: Redis | undefined;
  private gate: ConnectionGate | undefined;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly createSubscriber: (attempt: number) => Redis,
    private readonly timeoutMs: number,
    private readonly onHandlerError: (error: unknown) => void,
  ) {}

  /** Resolves once the channel is subscribed on the server (a message published afterwards arrives). */
  async subscribe(channel: string, onMessage: Handler): Promise<Subscription> {
    let handlers = this.handlers.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
    }
    // A fresh wrapper per call: the same function subscribed twice is two subscriptions.
    const handler: Handler = message => onMessage(message);
    handlers.add(handler);
    let subscriber: Redis;
    try {
      subscriber = await this.ready();
    } catch (error) {
      this.remove(channel, handler);
      throw connectionError('subscribe', error);
    }
    try {
      await subscriber.subscribe(channel); // idempotent on the server; its reply means "live"
    } catch (error) {
      this.remove(channel, handler);
      throw toStoreError('subscribe', error);
    }
    let active = true;
    return {
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        if (this.remove(channel, handler) && this.gate?.ready === true) {
          await this.subscriber!.unsubscribe(channel).catch(() => undefined);
        }
      },
    };
  }

  /** Drop the connection (a Sentinel failover): it is re-made, and re-resolved, after the usual backoff. */
  reconnect(): void {
    this.subscriber?.disconnect();
  }

  close(): void {
    this.closed = true;
    this.handlers.clear();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.subscriber?.disconnect();
  }

  /** Drop a handler; true when its channel has none left. */
  private remove(channel: string, handler: Handler): boolean {
    const handlers = this.handlers.get(channel);
    if (handlers === undefined || !handlers.delete(handler)) return false;
    if (handlers.size > 0) return false;
    this.handlers.delete(channel);
    return true;
  }

  private async ready(): Promise<Redis> {
    if (this.closed) throw new Error('the store is closed');
    if (this.subscriber === undefined) this.connect();
    // A call does not wait for the backoff: it connects now.
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.connect();
    }
    await this.gate!.wait(this.timeoutMs);
    return this.subscriber!;
  }

  private connect(): void {
    this.subscriber?.removeAllListeners('message');
    this.subscriber?.removeAllListeners('ready');
    this.subscriber?.removeAllListeners('end');
    this.subscriber?.disconnect();
    const subscriber = this.createSubscriber(this.attempt++);
    const gate = new ConnectionGate(subscriber);
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    subscriber.on('ready', () => {
      this.attempt = 0;
      const channels = [...this.handlers.keys()];
      if (channels.length > 0) subscriber.subscribe(...channels).catch(() => undefined);
    });
    subscriber.on('end', () => this.scheduleReconnect(subscriber));
    this.subscriber = subscriber;
    this.gate = gate;
  }

  private scheduleReconnect(ended: Redis): void {
    if (this.closed || ended !== this.subscriber || this.handlers.size === 0) return;
    if (this.reconnectTimer !== undefined) return;
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(this.attempt, 5));
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || this.handlers.size === 0) return;
      this.connect();
      this.gate!.wait(RECONNECT_MAX_MS + 4 * this.timeoutMs).catch(() => undefined);
    }, delayMs);
    this.reconnectTimer.unref();
  }

  private dispatch(channel: string, message: string): void {
    const handlers = this.handlers.get(channel);
    if (handlers === undefined) return;
    for (const handler of handlers) {
      try {
        handler(message);
      } catch (error) {
        this.onHandlerError(error);
      }
    }
  }
}

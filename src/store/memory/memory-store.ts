import { systemClock, type Clock } from '../../core/clock';
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
} from '../../core/store';
import { gcraTake } from '../gcra-take';

interface Slot {
  value: string;
  version: number;
  /** Monotonic expiry; Infinity = none. */
  expiresAtMs: number;
}

export interface MemoryStoreOptions {
  readonly clock?: Clock;
  /** Keys kept before the least recently used are evicted. */
  readonly maxKeys?: number;
}

export const MEMORY_STORE_DEFAULT_MAX_KEYS = 100_000;

/** Writes between two sweeps of expired keys (amortised, no timers). */
const SWEEP_EVERY = 1024;

/**
 * The default, per-process store. Every operation is synchronous underneath,
 * hence atomic; results are wrapped in promises to honour the port. Memory is
 * bounded: keys by an LRU cap and lazy TTL expiry, collections by their own
 * record caps.
 */
export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly clock: Clock;
  private readonly maxKeys: number;
  /** Map iteration order is least recently used first. */
  private readonly slots = new Map<string, Slot>();
  private readonly collections = new Map<string, Map<string, Slot>>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private version = 0;
  private writesSinceSweep = 0;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxKeys = options.maxKeys ?? MEMORY_STORE_DEFAULT_MAX_KEYS;
  }

  /** Keys currently held (expired ones may linger until swept or read). */
  get size(): number {
    return this.slots.size;
  }

  get(key: string): Promise<StoredValue | undefined> {
    const slot = this.live(key);
    return Promise.resolve(
      slot === undefined ? undefined : { value: slot.value, version: slot.version },
    );
  }

  set(key: string, value: string, options: SetOptions = {}): Promise<number | undefined> {
    const current = this.live(key);
    if (options.ifVersion !== undefined && (current?.version ?? 0) !== options.ifVersion) {
      return Promise.resolve(undefined);
    }
    return Promise.resolve(this.write(key, value, options.ttlMs).version);
  }

  delete(key: string, ifVersion?: number): Promise<boolean> {
    const current = this.live(key);
    if (current === undefined || (ifVersion !== undefined && current.version !== ifVersion)) {
      return Promise.resolve(false);
    }
    this.slots.delete(key);
    return Promise.resolve(true);
  }

  increment(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    const now = this.clock.monoMs();
    const current = this.live(key);
    if (current === undefined) {
      this.write(key, String(delta), windowMs);
      return Promise.resolve({ value: delta, resetInMs: windowMs });
    }
    const value = Number(current.value) + delta;
    current.value = String(value);
    current.version = ++this.version;
    return Promise.resolve({ value, resetInMs: Math.max(0, current.expiresAtMs - now) });
  }

  raise(key: string, value: number, ttlMs: number): Promise<number> {
    const current = this.live(key);
    const existing = current === undefined ? -Infinity : Number(current.value);
    if (existing >= value) return Promise.resolve(existing);
    this.write(key, String(value), ttlMs);
    return Promise.resolve(value);
  }

  takePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    const now = this.clock.monoMs();
    const current = this.live(key);
    const result = gcraTake(current === undefined ? now : Number(current.value), now, request);
    if (result.granted > 0) this.write(key, String(result.theoreticalArrivalMs), result.ttlMs);
    return Promise.resolve({ granted: result.granted, retryAfterMs: result.retryAfterMs });
  }

  addRecord(collection: string, id: string, value: string, options: RecordOptions): Promise<void> {
    const records = this.collection(collection);
    records.delete(id);
    records.set(id, { value, version: ++this.version, expiresAtMs: this.expiry(options.ttlMs) });
    while (records.size > options.maxRecords) {
      records.delete(records.keys().next().value as string);
    }
    return Promise.resolve();
  }

  getRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    const slot = this.liveRecord(collection, id);
    return Promise.resolve(
      slot === undefined ? undefined : { id, value: slot.value, version: slot.version },
    );
  }

  updateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion?: number,
  ): Promise<number | undefined> {
    const slot = this.liveRecord(collection, id);
    if (slot === undefined || (ifVersion !== undefined && slot.version !== ifVersion)) {
      return Promise.resolve(undefined);
    }
    slot.value = value;
    slot.version = ++this.version;
    return Promise.resolve(slot.version);
  }

  listRecords(
    collection: string,
    options: { limit: number; beforeId?: string },
  ): Promise<StoredRecord[]> {
    const records = this.collections.get(collection);
    if (records === undefined) return Promise.resolve([]);
    const now = this.clock.monoMs();
    const ids = [...records.keys()];
    let index = ids.length - 1;
    if (options.beforeId !== undefined) {
      const position = ids.lastIndexOf(options.beforeId);
      index = position === -1 ? -1 : position - 1;
    }
    const out: StoredRecord[] = [];
    for (; index >= 0 && out.length < options.limit; index--) {
      const id = ids[index]!;
      const slot = records.get(id)!;
      if (slot.expiresAtMs <= now) {
        records.delete(id);
        continue;
      }
      out.push({ id, value: slot.value, version: slot.version });
    }
    return Promise.resolve(out);
  }

  removeRecord(collection: string, id: string): Promise<boolean> {
    // An expired record is already gone, as it is for get, list and count.
    if (this.liveRecord(collection, id) === undefined) return Promise.resolve(false);
    return Promise.resolve(this.collections.get(collection)!.delete(id));
  }

  countRecords(collection: string): Promise<number> {
    const records = this.collections.get(collection);
    if (records === undefined) return Promise.resolve(0);
    const now = this.clock.monoMs();
    for (const [id, slot] of records) if (slot.expiresAtMs <= now) records.delete(id);
    return Promise.resolve(records.size);
  }

  publish(channel: string, message: string): Promise<void> {
    const handlers = this.channels.get(channel);
    if (handlers !== undefined) {
      // Delivered asynchronously, as a networked store would, so publishers never re-enter themselves.
      for (const handler of handlers) queueMicrotask(() => handler(message));
    }
    return Promise.resolve();
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    let handlers = this.channels.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    const handler = (message: string): void => onMessage(message);
    handlers.add(handler);
    return Promise.resolve({
      unsubscribe: () => {
        handlers.delete(handler);
        return Promise.resolve();
      },
    });
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.channels.clear();
    }
    return Promise.resolve();
  }

  private expiry(ttlMs: number | undefined): number {
    return ttlMs === undefined ? Infinity : this.clock.monoMs() + ttlMs;
  }

  /** The slot if present and unexpired, marked most recently used. */
  private live(key: string): Slot | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.slots.delete(key);
    if (slot.expiresAtMs <= this.clock.monoMs()) return undefined;
    this.slots.set(key, slot);
    return slot;
  }

  private liveRecord(collection: string, id: string): Slot | undefined {
    const records = this.collections.get(collection);
    const slot = records?.get(id);
    if (slot === undefined) return undefined;
    if (slot.expiresAtMs <= this.clock.monoMs()) {
      records!.delete(id);
      return undefined;
    }
    return slot;
  }

  private write(key: string, value: string, ttlMs: number | undefined): Slot {
    const slot: Slot = { value, version: ++this.version, expiresAtMs: this.expiry(ttlMs) };
    this.slots.delete(key);
    this.slots.set(key, slot);
    // At the cap, expired keys are dropped before live ones are evicted (sweeping at
    // most every 64 writes there, so a full store of live keys stays cheap to write).
    this.writesSinceSweep++;
    const full = this.slots.size > this.maxKeys;
    if (this.writesSinceSweep >= SWEEP_EVERY || (full && this.writesSinceSweep >= 64)) this.sweep();
    while (this.slots.size > this.maxKeys) {
      this.slots.delete(this.slots.keys().next().value as string);
    }
    return slot;
  }

  /** Drop expired keys from the least recently used end, a bounded amount per sweep. */
  private sweep(): void {
    this.writesSinceSweep = 0;
    const now = this.clock.monoMs();
    let budget = SWEEP_EVERY * 2;
    for (const [key, slot] of this.slots) {
      if (budget-- === 0) break;
      if (slot.expiresAtMs <= now) this.slots.delete(key);
    }
  }

  private collection(name: string): Map<string, Slot> {
    let records = this.collections.get(name);
    if (records === undefined) {
      records = new Map();
      this.collections.set(name, records);
    }
    return records;
  }
}

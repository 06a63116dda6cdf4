import type { RecordOptions } from '../core/store';

export interface OutboxLimits {
  /** Records held at most; beyond, the oldest is dropped. */
  readonly maxEntries: number;
  /** Approximate size held at most (UTF-16 code units of ids and values); beyond, the oldest is dropped. */
  readonly maxBytes: number;
}

export const OUTBOX_DEFAULTS: OutboxLimits = Object.freeze({
  maxEntries: 1_000,
  maxBytes: 8 * 1024 * 1024,
});

export interface OutboxEntry {
  readonly collection: string;
  readonly id: string;
  readonly value: string;
  readonly options: RecordOptions;
  /** Monotonic time it was queued: a record's ttl keeps running while it waits. */
  readonly queuedAtMs: number;
  readonly bytes: number;
}

/**
 * Records waiting for the store to come back (dead letters written during an
 * outage), oldest first, bounded by count and size. Adding a record id that is
 * already queued replaces it and moves it to the end, as adding it to the
 * store would.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  private size = 0;
  /** Records dropped because the outbox was full, since it was created. */
  dropped = 0;

  constructor(readonly limits: OutboxLimits = OUTBOX_DEFAULTS) {}

  get length(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.size;
  }

  /** Queue a record; returns how many older records were dropped to make room. */
  push(entry: Omit<OutboxEntry, 'bytes'>): number {
    const key = keyOf(entry.collection, entry.id);
    this.delete(key);
    const full: OutboxEntry = { ...entry, bytes: entry.id.length + entry.value.length + 64 };
    this.entries.set(key, full);
    this.size += full.bytes;
    let dropped = 0;
    while (
      this.entries.size > 1 &&
      (this.entries.size > this.limits.maxEntries || this.size > this.limits.maxBytes)
    ) {
      this.delete(this.entries.keys().next().value as string);
      dropped++;
    }
    this.dropped += dropped;
    return dropped;
  }

  /** The oldest record, left in place until `remove`. */
  peek(): OutboxEntry | undefined {
    return this.entries.values().next().value;
  }

  /** Remove `entry` if it is still the queued version of its record. */
  remove(entry: OutboxEntry): void {
    const key = keyOf(entry.collection, entry.id);
    if (this.entries.get(key) === entry) this.delete(key);
  }

  ids(): { collection: string; id: string }[] {
    return [...this.entries.values()].map(({ collection, id }) => ({ collection, id }));
  }

  private delete(key: string): void {
    const existing = this.entries.get(key);
    if (existing === undefined) return;
    this.entries.delete(key);
    this.size -= existing.bytes;
  }
}

function keyOf(collection: string, id: string): string {
  return `${collection}\u0000${id}`;
}

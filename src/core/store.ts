/**
 * The state-store port: the few atomic primitives Baldur's shared features are
 * built on. Memory, Redis and SQL backends implement it and pass the same
 * conformance suite (test/conformance). Values are opaque strings — each
 * feature owns its versioned codec — and keys arrive without the configured
 * prefix; backends add it.
 *
 * Nothing on a call's hot path waits for the store: breakers and limiters decide
 * locally and reconcile in the background. The exceptions are features that are
 * inherently shared per call (idempotency claims).
 */
export type StoreKind = 'memory' | 'redis' | 'postgresql' | 'mysql';

export interface StoredValue {
  readonly value: string;
  /** Increases on every write; the token for compare-and-set. */
  readonly version: number;
}

export interface SetOptions {
  /** Time to live; omitted = no expiry. */
  readonly ttlMs?: number;
  /** Write only if the current version is this (0 = only if absent). */
  readonly ifVersion?: number;
}

export interface WindowCount {
  readonly value: number;
  /** Time until the window (and the counter) expires. */
  readonly resetInMs: number;
}

export interface PermitRequest {
  /** Permits wanted now (a batch, when leasing). */
  readonly requested: number;
  readonly limit: number;
  readonly perMs: number;
  readonly burst: number;
}

export interface PermitGrant {
  /** Permits granted, 0..requested. */
  readonly granted: number;
  /** When one more permit will be available, if none was granted. */
  readonly retryAfterMs: number;
}

export interface StoredRecord extends StoredValue {
  readonly id: string;
}

export interface RecordOptions {
  /** The collection keeps at most this many records, dropping the oldest. */
  readonly maxRecords: number;
  readonly ttlMs?: number;
}

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface StateStore {
  readonly kind: StoreKind;

  get(key: string): Promise<StoredValue | undefined>;
  /** Conditional write; resolves to the new version, or `undefined` when the condition failed. */
  set(key: string, value: string, options?: SetOptions): Promise<number | undefined>;
  /** Resolves to whether a value was deleted (and, with `ifVersion`, whether it matched). */
  delete(key: string, ifVersion?: number): Promise<boolean>;
  /** Add to a counter created with a lifetime of `windowMs` on first use. */
  increment(key: string, delta: number, windowMs: number): Promise<WindowCount>;
  /** Store `max(current, value)` (numbers, e.g. a cooldown deadline); resolves to the stored maximum. */
  raise(key: string, value: number, ttlMs: number): Promise<number>;
  /** Take permits from a fleet-wide GCRA bucket. */
  takePermits(key: string, request: PermitRequest): Promise<PermitGrant>;

  /** Add a record to a bounded, insertion-ordered collection (dead letters, instance snapshots). */
  addRecord(collection: string, id: string, value: string, options: RecordOptions): Promise<void>;
  getRecord(collection: string, id: string): Promise<StoredRecord | undefined>;
  /** Compare-and-set on a record; resolves to the new version or `undefined`. */
  updateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion?: number,
  ): Promise<number | undefined>;
  /** Newest first; `beforeId` pages through older records. */
  listRecords(
    collection: string,
    options: { limit: number; beforeId?: string },
  ): Promise<StoredRecord[]>;
  removeRecord(collection: string, id: string): Promise<boolean>;
  countRecords(collection: string): Promise<number>;

  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Subscription>;

  close(): Promise<void>;
}

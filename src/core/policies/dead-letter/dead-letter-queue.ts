import type { Clock } from '../../clock';
import type { EventBus } from '../../events';
import type { StateStore } from '../../store';
import {
  type DeadLetterEntry,
  type DeadLetterStatus,
  StoredRecordError,
  decodeDeadLetter,
  describeError,
  encodeDeadLetter,
} from './entry';
import type { DeadLetterLimits } from './options';
import { snapshotArguments } from './snapshot';

export const DEAD_LETTER_COLLECTION = 'dead-letters';

export type ReplayHandler = (args: unknown[], entry: DeadLetterEntry) => unknown;

export interface ReplayResult {
  readonly ok: boolean;
  readonly entry: DeadLetterEntry;
  readonly value?: unknown;
  readonly error?: unknown;
}

export class DeadLetterReplayError extends Error {
  override readonly name = 'DeadLetterReplayError';
  constructor(
    message: string,
    readonly reason:
      'not_found' | 'unreadable' | 'truncated' | 'no_handler' | 'busy' | 'already_replayed',
  ) {
    super(message);
  }
}

export interface ListOptions {
  readonly limit?: number;
  readonly beforeId?: string;
  readonly dependency?: string;
  readonly status?: DeadLetterStatus;
}

export interface ListedDeadLetters {
  readonly entries: DeadLetterEntry[];
  /** Records this version could not decode, by id; they are left in the store. */
  readonly unreadable: { id: string; problem: string }[];
  readonly nextBeforeId: string | undefined;
}

/**
 * Captures failed calls with their (redacted, size-capped) arguments and replays
 * them on request. Capture is synchronous up to building the entry; the store
 * write runs in the background and is awaited by `flush()` at shutdown.
 */
export class DeadLetterQueue {
  private readonly pending = new Set<Promise<unknown>>();
  private sequence = 0;

  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly limits: DeadLetterLimits,
    private readonly bus: EventBus,
    private readonly instanceId: string,
    private readonly onStoreError: (operation: string, error: unknown) => void,
  ) {}

  /** Record a failed call; resolves nothing, returns the new entry's id at once. */
  capture(
    dependency: string,
    args: readonly unknown[],
    error: unknown,
    reason: 'failure' | 'rejected',
    trace?: { traceId: string; spanId: string },
  ): string {
    const nowWallMs = this.clock.wallMs();
    const id = `${nowWallMs.toString(36)}-${this.instanceId}-${(this.sequence++).toString(36)}`;
    const snapshot = snapshotArguments(args, this.limits.redactKeys, this.limits.maxPayloadBytes);
    const entry: DeadLetterEntry = {
      v: 1,
      id,
      dependency,
      createdAtWallMs: nowWallMs,
      status: 'pending',
      reason,
      error: describeError(error),
      args: snapshot.truncated ? undefined : (JSON.parse(snapshot.json) as unknown[]),
      argsPreview: snapshot.truncated ? snapshot.json : undefined,
      argsBytes: snapshot.bytes,
      replayAttempts: 0,
      lastReplayAtWallMs: undefined,
      lastReplayError: undefined,
      traceId: trace?.traceId,
      spanId: trace?.spanId,
    };
    this.track(
      this.store.addRecord(DEAD_LETTER_COLLECTION, id, encodeDeadLetter(entry), {
        maxRecords: this.limits.maxEntries,
        ttlMs: this.limits.ttlMs,
      }),
      'dead_letter.add',
    );
    this.bus.emit({ type: 'dead_letter.captured', dependency, id, atWallMs: nowWallMs });
    return id;
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    const record = await this.store.getRecord(DEAD_LETTER_COLLECTION, id);
    return record === undefined ? undefined : decodeDeadLetter(record.value);
  }

  async list(options: ListOptions = {}): Promise<ListedDeadLetters> {
    const limit = Math.min(Math.max(1, options.limit ?? 100), 1000);
    const entries: DeadLetterEntry[] = [];
    const unreadable: { id: string; problem: string }[] = [];
    let beforeId = options.beforeId;
    // Filters are applied after reading, so page until the page is full or the collection ends.
    for (;;) {
      const page = await this.store.listRecords(DEAD_LETTER_COLLECTION, {
        limit,
        ...(beforeId === undefined ? {} : { beforeId }),
      });
      for (const record of page) {
        beforeId = record.id;
        let entry: DeadLetterEntry;
        try {
          entry = decodeDeadLetter(record.value);
        } catch (error) {
          unreadable.push({
            id: record.id,
            problem: error instanceof Error ? error.message : String(error),
          });
          continue;
        }
        if (options.dependency !== undefined && entry.dependency !== options.dependency) continue;
        if (options.status !== undefined && entry.status !== options.status) continue;
        entries.push(entry);
        if (entries.length === limit) return { entries, unreadable, nextBeforeId: record.id };
      }
      if (page.length < limit) return { entries, unreadable, nextBeforeId: undefined };
    }
  }

  remove(id: string): Promise<boolean> {
    return this.store.removeRecord(DEAD_LETTER_COLLECTION, id);
  }

  count(): Promise<number> {
    return this.store.countRecords(DEAD_LETTER_COLLECTION);
  }

  /**
   * Replay one entry through `handler`. The entry is claimed with a
   * compare-and-set (`replaying`), so two operators or instances cannot replay
   * it at the same time; the outcome is written back (`replayed` / `failed`).
   */
  async replay(
    id: string,
    handlerFor: (dependency: string) => ReplayHandler | undefined,
  ): Promise<ReplayResult> {
    const record = await this.store.getRecord(DEAD_LETTER_COLLECTION, id);
    if (record === undefined)
      throw new DeadLetterReplayError(`dead letter "${id}" not found`, 'not_found');
    let entry: DeadLetterEntry;
    try {
      entry = decodeDeadLetter(record.value);
    } catch (error) {
      // Left in place for an operator to inspect; replaying what cannot be read would guess.
      throw new DeadLetterReplayError(
        `dead letter "${id}" cannot be read: ${(error as Error).message}`,
        'unreadable',
      );
    }
    if (entry.status === 'replaying') {
      throw new DeadLetterReplayError(`dead letter "${id}" is being replayed`, 'busy');
    }
    if (entry.status === 'replayed') {
      throw new DeadLetterReplayError(
        `dead letter "${id}" was already replayed`,
        'already_replayed',
      );
    }
    if (entry.args === undefined) {
      throw new DeadLetterReplayError(
        `dead letter "${id}" has truncated arguments (${entry.argsBytes} bytes) and cannot be replayed`,
        'truncated',
      );
    }
    const handler = handlerFor(entry.dependency);
    if (handler === undefined) {
      throw new DeadLetterReplayError(`no replay handler for "${entry.dependency}"`, 'no_handler');
    }
    const claimed: DeadLetterEntry = {
      ...entry,
      status: 'replaying',
      lastReplayAtWallMs: this.clock.wallMs(),
    };
    const version = await this.store.updateRecord(
      DEAD_LETTER_COLLECTION,
      id,
      encodeDeadLetter(claimed),
      record.version,
    );
    if (version === undefined)
      throw new DeadLetterReplayError(`dead letter "${id}" is being replayed`, 'busy');

    let result: ReplayResult;
    try {
      const value: unknown = await handler([...entry.args], entry);
      result = {
        ok: true,
        value,
        entry: { ...claimed, status: 'replayed', replayAttempts: entry.replayAttempts + 1 },
      };
    } catch (error) {
      result = {
        ok: false,
        error,
        entry: {
          ...claimed,
          status: 'failed',
          replayAttempts: entry.replayAttempts + 1,
          lastReplayError: describeError(error).message,
        },
      };
    }
    await this.store.updateRecord(
      DEAD_LETTER_COLLECTION,
      id,
      encodeDeadLetter(result.entry),
      version,
    );
    this.bus.emit({
      type: 'dead_letter.replayed',
      dependency: entry.dependency,
      id,
      ok: result.ok,
      atWallMs: this.clock.wallMs(),
    });
    return result;
  }

  /** Wait for captures still being written. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(write: Promise<unknown>, operation: string): void {
    const tracked = write.catch((error: unknown) => this.onStoreError(operation, error));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}

export { StoredRecordError };

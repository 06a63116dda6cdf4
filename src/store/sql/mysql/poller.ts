import type { Logger } from '../../../log';

export interface MessageRow {
  readonly id: number;
  readonly channel: string;
  readonly payload: string;
}

const BATCH = 500;
/** Missing ids tracked at most (gaps from rolled-back inserts or auto_increment_increment > 1). */
const MAX_GAPS = 1_000;
const MAX_ERROR_BACKOFF_MS = 5_000;

/**
 * Publish/subscribe over the bounded messages table, for MySQL (which has no
 * LISTEN/NOTIFY): while anyone subscribes, one timer per store reads the rows
 * after the last id it saw, every `intervalMs` — so a message reaches every
 * instance within about one poll interval.
 *
 * AUTO_INCREMENT ids are handed out at insert but become visible at commit,
 * so concurrent publishers can commit out of order: an id skipped over is
 * remembered as a gap and looked for again until `gapTimeoutMs` (longer than
 * any publisher's statement may take) — each message is delivered once.
 */
export class MessagePoller {
  private cursor = 0;
  private initialized = false;
  /** Missing id → when it was first missed (ms). */
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private errorDelayMs = 0;
  private closed = false;

  constructor(
    private readonly fetch: (afterId: number, limit: number) => Promise<MessageRow[]>,
    private readonly lastId: () => Promise<number>,
    private readonly deliver: (channel: string, payload: string) => void,
    private readonly intervalMs: number,
    private readonly gapTimeoutMs: number,
    private readonly wanted: () => boolean,
    private readonly logger: Logger | undefined,
  ) {}

  /** Resolves once messages published from now on will be delivered. */
  ensure(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('poller closed'));
    if (this.initialized) {
      this.schedule(this.intervalMs);
      return Promise.resolve();
    }
    this.starting ??= (async () => {
      try {
        this.cursor = await this.lastId();
        this.gaps.clear();
        this.initialized = true;
        this.schedule(this.intervalMs);
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One poll (the timer calls this; tests may too). Resolves to whether a full batch came back. */
  async pollOnce(): Promise<boolean> {
    const now = Date.now();
    for (const [id, since] of this.gaps) if (now - since > this.gapTimeoutMs) this.gaps.delete(id);
    let floor = this.cursor;
    for (const id of this.gaps.keys()) floor = Math.min(floor, id - 1);
    const rows = await this.fetch(floor, BATCH);
    for (const row of rows) {
      const id = Number(row.id);
      if (id > this.cursor) {
        for (let missing = this.cursor + 1; missing < id && this.gaps.size < MAX_GAPS; missing++) {
          this.gaps.set(missing, now);
        }
        this.cursor = id;
      } else if (!this.gaps.delete(id)) {
        continue; // delivered by an earlier poll
      }
      if (!this.wanted()) continue;
      this.deliver(row.channel, row.payload);
    }
    return rows.length === BATCH;
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer !== undefined) return;
    if (!this.wanted()) {
      // Nobody listens: stop, and start from the then-latest message when someone subscribes again.
      this.initialized = false;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pollOnce().then(
        full => {
          this.errorDelayMs = 0;
          this.schedule(full ? 0 : this.intervalMs);
        },
        (error: unknown) => {
          this.errorDelayMs = Math.min(
            MAX_ERROR_BACKOFF_MS,
            Math.max(this.intervalMs, this.errorDelayMs * 2),
          );
          this.logger?.debug(`MySQL store: polling messages failed: ${String(error)}`);
          this.schedule(this.errorDelayMs);
        },
      );
    }, delayMs);
    this.timer.unref();
  }
}

import type { Clock } from '../../clock';
import type { StateStore } from '../../store';
import { CLOCK_SKEW_TOLERANCE_MS } from './options';

/** Stored claim (codec version 1). */
interface ClaimRecord {
  readonly v: 1;
  readonly status: 'executing' | 'completed';
  readonly startedAtWallMs: number;
  readonly owner: string;
  /** JSON of the stored result, when it was storable. */
  readonly result?: string;
}

export type ClaimDecision =
  | { readonly kind: 'claimed'; readonly version: number; readonly takeover: boolean }
  | { readonly kind: 'completed'; readonly result: { value: unknown } | undefined }
  | { readonly kind: 'executing'; readonly retryAfterMs: number };

/**
 * Exactly-one-executor gate over the store's compare-and-set. A claim is
 * written only if absent; a claim older than the execution TTL (plus clock-skew
 * tolerance) may be taken over by exactly one contender; completion stores the
 * result for the memory TTL; failure releases the key for the next caller.
 */
export class IdempotencyGate {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly owner: string,
  ) {}

  async claim(key: string, executionTtlMs: number, ttlMs: number): Promise<ClaimDecision> {
    const claimText = this.encode({
      v: 1,
      status: 'executing',
      startedAtWallMs: this.clock.wallMs(),
      owner: this.owner,
    });
    // Two rounds: the first existing record may expire or be released between our write and read.
    for (let round = 0; round < 2; round++) {
      const version = await this.store.set(key, claimText, { ifVersion: 0, ttlMs });
      if (version !== undefined) return { kind: 'claimed', version, takeover: false };
      const current = await this.store.get(key);
      if (current === undefined) continue;
      const record = this.decode(current.value);
      if (record?.status === 'completed') {
        return {
          kind: 'completed',
          result: record.result === undefined ? undefined : { value: JSON.parse(record.result) },
        };
      }
      const ageMs = record === undefined ? Infinity : this.clock.wallMs() - record.startedAtWallMs;
      if (ageMs < executionTtlMs + CLOCK_SKEW_TOLERANCE_MS) {
        return {
          kind: 'executing',
          retryAfterMs: Math.max(0, executionTtlMs + CLOCK_SKEW_TOLERANCE_MS - ageMs),
        };
      }
      // Stale (or unreadable) claim: exactly one contender wins the compare-and-set.
      const taken = await this.store.set(key, claimText, { ifVersion: current.version, ttlMs });
      if (taken !== undefined) return { kind: 'claimed', version: taken, takeover: true };
      return { kind: 'executing', retryAfterMs: executionTtlMs };
    }
    return { kind: 'executing', retryAfterMs: executionTtlMs };
  }

  /** Mark the claim completed, storing `resultJson` when given. False if the claim was lost meanwhile. */
  async complete(
    key: string,
    version: number,
    resultJson: string | undefined,
    ttlMs: number,
  ): Promise<boolean> {
    const record: ClaimRecord = {
      v: 1,
      status: 'completed',
      startedAtWallMs: this.clock.wallMs(),
      owner: this.owner,
      ...(resultJson === undefined ? {} : { result: resultJson }),
    };
    return (
      (await this.store.set(key, this.encode(record), { ifVersion: version, ttlMs })) !== undefined
    );
  }

  /** Release a claim after a failure so the next caller may execute. */
  async release(key: string, version: number): Promise<void> {
    await this.store.delete(key, version);
  }

  private encode(record: ClaimRecord): string {
    return JSON.stringify(record);
  }

  /** An unreadable record is treated as a stale claim: it can be taken over, never crashes the call. */
  private decode(text: string): ClaimRecord | undefined {
    try {
      const raw = JSON.parse(text) as Partial<ClaimRecord>;
      if (raw.v !== 1 || (raw.status !== 'executing' && raw.status !== 'completed'))
        return undefined;
      if (typeof raw.startedAtWallMs !== 'number') return undefined;
      if (raw.result !== undefined) {
        if (typeof raw.result !== 'string') return undefined;
        JSON.parse(raw.result); // a stored result that cannot be replayed makes the record unreadable
      }
      return raw as ClaimRecord;
    } catch {
      return undefined;
    }
  }
}

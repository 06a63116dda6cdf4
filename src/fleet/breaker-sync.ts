import type { BreakerStateChangeEvent } from '../core/events';
import type { Pipeline } from '../core/pipeline/pipeline';
import type { BreakerState } from '../names/policies';
import type { FleetChannel } from './channel';
import { background, type FleetContext } from './context';
import { breakerKey, TRANSITIONS_COLLECTION } from './names';
import {
  breakerCodec,
  transitionCodec,
  type BreakerRecord,
  type StoredBreakerState,
} from './records';

/**
 * Transitions every worker makes by itself (time-based, or applying a peer's
 * record): never written or announced.
 */
const NOT_SHARED = new Set(['remote', 'recovery_timeout', 'force_expired', 'probes_stuck']);
/** Operator decisions: they override a forced state; automatic verdicts do not. */
const OPERATOR_REASONS = new Set(['forced', 'reset']);
const CAS_ATTEMPTS = 5;
/** Records kept for dependencies this process has no pipeline for yet. */
const MAX_EARLY_RECORDS = 1_000;
/** Breaker history: newest records kept, and for how long. */
export const HISTORY_MAX_RECORDS = 10_000;
export const HISTORY_TTL_MS = 30 * 24 * 3_600_000;

export interface PipelineDirectory {
  find(name: string): Pipeline | undefined;
}

/** A transition made here, waiting to be stored. */
interface LocalTransition {
  /** Undefined for an operator's command on a breaker this process has no pipeline for. */
  readonly from: BreakerState | undefined;
  readonly to: StoredBreakerState;
  readonly reason: string;
  readonly atWallMs: number;
  readonly untilWallMs: number;
  /** The fleet epoch this worker knew when it made the transition. */
  readonly basisEpoch: number;
}

interface BreakerView {
  /** Highest fleet epoch applied or written here (0: none). */
  epoch: number;
  /** The record of that epoch (applied to a pipeline created later). */
  record: BreakerRecord | undefined;
  /** The latest local transition not stored yet (the store was unreachable, or the write is running). */
  pending: LocalTransition | undefined;
  writing: boolean;
}

/**
 * Shares breaker transitions across the fleet; calls never wait for it.
 *
 * A transition made here (a trigger, a failed or successful probe round, an
 * operator's force or reset) is written to `breaker:<dependency>` with
 * compare-and-set, one epoch above the stored record, then announced on the
 * fleet channel and appended to the `breaker-transitions` history. Peers
 * apply a record newer than the epoch they know with
 * `pipeline.adoptBreakerState(…, 'remote')`; the periodic reconciliation and
 * the read made when a pipeline is created apply records whose message was
 * missed. Conflicts resolve by epoch (the later write wins), with two
 * exceptions that keep the fleet on the safe side: a probe round that
 * succeeded does not close a breaker a peer re-opened meanwhile, and an
 * automatic verdict does not override an operator's forced state until it
 * expires. A transition made while the store is unreachable is written when
 * it recovers (`resync`), unless a newer one superseded it.
 */
export class BreakerSync {
  private readonly views = new Map<string, BreakerView>();
  private readonly early = new Map<string, BreakerRecord>();
  private historySequence = 0;

  constructor(
    private readonly context: FleetContext,
    private readonly channel: FleetChannel,
    private readonly pipelines: PipelineDirectory,
  ) {}

  /** The bus listener for `circuit_breaker.state_change`. */
  onTransition(event: BreakerStateChangeEvent): void {
    if (NOT_SHARED.has(event.reason) || event.to === 'half_open') return;
    const breaker = this.pipelines.find(event.dependency)?.breaker;
    if (breaker === undefined) return;
    const timed = event.to === 'open' || event.to === 'forced_open' || event.to === 'forced_closed';
    const remainingMs = timed ? (breaker.snapshot().remainingMs ?? 0) : 0;
    const view = this.view(event.dependency);
    view.pending = {
      from: event.from,
      to: event.to,
      reason: event.reason,
      atWallMs: event.atWallMs,
      untilWallMs: remainingMs > 0 ? event.atWallMs + remainingMs : 0,
      basisEpoch: view.epoch,
    };
    void this.flush(event.dependency, view);
  }

  /**
   * An operator's decision (force open, force close, reset) for a breaker this
   * process may have no pipeline for (an admin instance): applied locally if
   * it has one, stored and announced either way. Resolves to whether it was
   * stored (false: the store is unreachable; a local pipeline still applies it,
   * and it is written when the store recovers).
   */
  async command(
    dependency: string,
    to: 'forced_open' | 'forced_closed' | 'closed',
    ttlMs: number,
  ): Promise<boolean> {
    const pipeline = this.pipelines.find(dependency);
    const view = this.view(dependency);
    const before = view.pending;
    if (pipeline?.breaker !== undefined) {
      // The transition event records it as pending, like any local transition.
      if (to === 'forced_open') pipeline.forceOpen(ttlMs);
      else if (to === 'forced_closed') pipeline.forceClose(ttlMs);
      else pipeline.resetBreaker();
    }
    if (view.pending === before) {
      // No pipeline here, or no transition (a reset of a closed breaker): store it anyway.
      const atWallMs = this.context.clock.wallMs();
      view.pending = {
        from: undefined,
        to,
        reason: to === 'closed' ? 'reset' : 'forced',
        atWallMs,
        untilWallMs: to === 'closed' ? 0 : atWallMs + ttlMs,
        basisEpoch: view.epoch,
      };
    }
    const local = view.pending;
    await this.flush(dependency, view);
    while (view.writing) await new Promise(resolve => setImmediate(resolve));
    return local === undefined || view.pending !== local;
  }

  /** A record from a peer's message. */
  onMessage(body: unknown): void {
    const decoded = breakerCodec.decodeObject(body);
    if (decoded.ok) this.receive(decoded.value);
    else this.context.unreadable(decoded.error);
  }

  /** The epoch naming the current half-open probe round, or undefined when not known fleet-wide. */
  probeEpoch(dependency: string): number | undefined {
    const view = this.views.get(dependency);
    if (view === undefined || view.pending !== undefined || view.epoch === 0) return undefined;
    return view.epoch;
  }

  /** A new pipeline: apply what is known about its breaker, then read the store. */
  pipelineCreated(pipeline: Pipeline): void {
    if (pipeline.breaker === undefined) return;
    const known = this.view(pipeline.name).record;
    if (known !== undefined) this.apply(pipeline, known); // a command stored from here
    const early = this.early.get(pipeline.name);
    if (early !== undefined) {
      this.early.delete(pipeline.name);
      this.receive(early);
    }
    void this.reconcile(pipeline.name);
  }

  /** Read the stored record of one breaker and apply it if it is newer. Never rejects. */
  async reconcile(dependency: string): Promise<void> {
    try {
      const stored = await this.context.store.get(breakerKey(dependency));
      this.context.succeeded('breaker.read');
      if (stored === undefined) return;
      const decoded = breakerCodec.decode(stored.value);
      if (decoded.ok) this.receive(decoded.value);
      else this.context.unreadable(decoded.error);
    } catch (error) {
      this.context.report('breaker.read', error);
    }
  }

  /** The store is back: write transitions it missed. */
  resync(): void {
    for (const [dependency, view] of this.views) {
      if (view.pending !== undefined) void this.flush(dependency, view);
    }
  }

  /** Append a history line for a transition no record carries (the start of a probe round). */
  appendHistory(
    dependency: string,
    from: BreakerState,
    to: BreakerState,
    reason: string,
    epoch: number,
  ): void {
    const atWallMs = this.context.clock.wallMs();
    this.writeHistory({
      dependency,
      from,
      to,
      reason,
      epoch,
      untilWallMs: 0,
      by: this.context.instanceId,
      atWallMs,
    });
  }

  private receive(record: BreakerRecord): void {
    const pipeline = this.pipelines.find(record.dependency);
    if (pipeline?.breaker === undefined) {
      this.rememberEarly(record);
      return;
    }
    const view = this.view(record.dependency);
    // An unstored local transition will be written above this epoch, or yield to it there.
    if (record.epoch <= view.epoch || view.pending !== undefined) return;
    view.epoch = record.epoch;
    view.record = record;
    this.apply(pipeline, record);
  }

  private apply(pipeline: Pipeline, record: BreakerRecord): void {
    const breaker = pipeline.breaker!;
    if (!breaker.options.enabled) return;
    const local = pipeline.status().circuitBreaker?.state; // applies a lapsed forced state first
    if (
      (local === 'forced_open' || local === 'forced_closed') &&
      !OPERATOR_REASONS.has(record.reason)
    )
      return;
    let state: BreakerState = record.state;
    const remainingMs = Math.max(0, record.untilWallMs - this.context.clock.wallMs());
    if ((state === 'forced_open' || state === 'forced_closed') && remainingMs <= 0)
      state = 'closed';
    if (state === 'disabled') state = 'closed';
    pipeline.adoptBreakerState(state, remainingMs, 'remote');
  }

  private async flush(dependency: string, view: BreakerView): Promise<void> {
    if (view.writing) return;
    view.writing = true;
    try {
      while (view.pending !== undefined) {
        const local = view.pending;
        try {
          await this.write(dependency, view, local);
          this.context.succeeded('breaker.write');
        } catch (error) {
          this.context.report('breaker.write', error);
          return; // stays pending: written on recovery
        }
        if (view.pending === local) view.pending = undefined;
      }
    } finally {
      view.writing = false;
    }
  }

  private async write(
    dependency: string,
    view: BreakerView,
    local: LocalTransition,
  ): Promise<void> {
    const store = this.context.store;
    const key = breakerKey(dependency);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await store.get(key);
      let stored: BreakerRecord | undefined;
      if (current !== undefined) {
        const decoded = breakerCodec.decode(current.value);
        if (decoded.ok) stored = decoded.value;
        else this.context.unreadable(decoded.error); // overwritten below
      }
      // A peer stored a transition this worker had not seen when it made its own.
      if (stored !== undefined && stored.epoch > local.basisEpoch && this.yields(local, stored)) {
        if (view.pending === local) view.pending = undefined;
        if (stored.epoch > view.epoch) {
          view.epoch = stored.epoch;
          view.record = stored;
          const pipeline = this.pipelines.find(dependency);
          if (stored.state !== local.to && pipeline?.breaker !== undefined)
            this.apply(pipeline, stored);
        }
        return;
      }
      const record: BreakerRecord = {
        dependency,
        state: local.to,
        epoch: Math.max(stored?.epoch ?? 0, view.epoch) + 1,
        untilWallMs: local.untilWallMs,
        reason: local.reason,
        by: this.context.instanceId,
        atWallMs: local.atWallMs,
      };
      const version = await store.set(key, breakerCodec.encode(record), {
        ifVersion: current?.version ?? 0,
      });
      if (version === undefined) continue; // raced with a peer: read again
      if (record.epoch > view.epoch) {
        view.epoch = record.epoch;
        view.record = record;
      }
      this.channel.announce('breaker', breakerCodec, record);
      this.writeHistory({ ...record, from: local.from ?? stored?.state ?? 'closed', to: local.to });
      return;
    }
    throw new Error(
      `breaker "${dependency}": the stored record kept changing (${CAS_ATTEMPTS} attempts)`,
    );
  }

  /**
   * Whether a local transition gives way to a stored one it did not know about
   * (written by a peer after this worker's basis epoch):
   * - the same state: a peer got there first, nothing to add;
   * - a successful probe round against a re-opened breaker: the failure stands;
   * - an automatic verdict against an operator's forced state still in force,
   *   or against an operator's reset made after it.
   * Anything else is newer news and is written over it.
   */
  private yields(local: LocalTransition, stored: BreakerRecord): boolean {
    if (stored.state === local.to) return true;
    if (
      local.reason === 'probes_succeeded' &&
      (stored.state === 'open' || stored.state === 'forced_open')
    )
      return true;
    if (OPERATOR_REASONS.has(local.reason)) return false;
    if (stored.state === 'forced_open' || stored.state === 'forced_closed')
      return stored.untilWallMs > this.context.clock.wallMs();
    return stored.reason === 'reset' && stored.atWallMs >= local.atWallMs;
  }

  private writeHistory(line: {
    dependency: string;
    from: BreakerState;
    to: BreakerState;
    reason: string;
    epoch: number;
    untilWallMs: number;
    by: string;
    atWallMs: number;
  }): void {
    const id = `${line.atWallMs.toString(36)}-${this.context.instanceId}-${(this.historySequence++).toString(36)}`;
    background(this.context, 'breaker.history', () =>
      this.context.store.addRecord(TRANSITIONS_COLLECTION, id, transitionCodec.encode(line), {
        maxRecords: HISTORY_MAX_RECORDS,
        ttlMs: HISTORY_TTL_MS,
      }),
    );
  }

  private view(dependency: string): BreakerView {
    let view = this.views.get(dependency);
    if (view === undefined) {
      view = { epoch: 0, record: undefined, pending: undefined, writing: false };
      this.views.set(dependency, view);
    }
    return view;
  }

  private rememberEarly(record: BreakerRecord): void {
    const known = this.early.get(record.dependency);
    if (known !== undefined && known.epoch >= record.epoch) return;
    this.early.delete(record.dependency);
    this.early.set(record.dependency, record);
    if (this.early.size > MAX_EARLY_RECORDS) this.early.delete(this.early.keys().next().value!);
  }
}

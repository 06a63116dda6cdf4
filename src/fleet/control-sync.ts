import type { ModeChangeEvent } from '../core/events';
import type { Controls, Mode } from '../core/pipeline/controls';
import type { FleetChannel } from './channel';
import type { FleetContext } from './context';
import { CONTROL_KEY } from './names';
import { controlCodec, type ControlRecord } from './records';

/** What the control sync drives: the engine's switches (their changes emit `control.changed`). */
export interface ControlTarget {
  readonly controls: Controls;
  setKillSwitch(engaged: boolean, reason: string): void;
  setMode(mode: Mode, reason: string): void;
}

const CAS_ATTEMPTS = 5;

/** A change made here, waiting to be stored (its `seq` is assigned by the write). */
type LocalChange = Omit<ControlRecord, 'seq'>;

/**
 * The kill switch and mode, shared fleet-wide. A change made on any instance
 * (admin API, CLI, `setKillSwitch`) is written to `control` with
 * compare-and-set, one `seq` above the stored record, and announced; every
 * instance applies a record with a higher `seq` than it has seen. Instances
 * starting later read it. A change made while the store is unreachable is
 * written when it recovers — unless a change made elsewhere later (by wall
 * clock) is stored by then, which then wins.
 *
 * Unreadable state means "enabled" (SPEC §4): when the store becomes
 * unavailable or the stored value cannot be decoded, a kill switch that was
 * applied from the store is released here, and policies are active again,
 * until the store can be read. A switch engaged on this very instance stays.
 */
export class ControlSync {
  private applying = false;
  /** `seq` of the stored state in effect here (0: none). */
  private currentSeq = 0;
  /** The engaged kill switch came from the store (released when it becomes unreadable). */
  private remoteKillSwitch = false;
  private pending: LocalChange | undefined;
  private writing = false;

  constructor(
    private readonly context: FleetContext,
    private readonly channel: FleetChannel,
    private readonly target: ControlTarget,
  ) {}

  /** The bus listener for `control.changed`. */
  onChanged(event: ModeChangeEvent): void {
    if (this.applying) return;
    this.remoteKillSwitch = false;
    this.pending = {
      killSwitch: event.killSwitch,
      mode: event.mode,
      reason: event.reason ?? '',
      by: this.context.instanceId,
      atWallMs: event.atWallMs,
    };
    void this.flush();
  }

  onMessage(body: unknown): void {
    const decoded = controlCodec.decodeObject(body);
    if (decoded.ok) this.receive(decoded.value);
    else this.context.unreadable(decoded.error);
  }

  /** Read the stored state and apply it if newer. Rejects with the store's error (the caller decides). */
  async reconcile(): Promise<void> {
    const stored = await this.context.store.get(CONTROL_KEY);
    if (stored === undefined) return;
    const decoded = controlCodec.decode(stored.value);
    if (decoded.ok) this.receive(decoded.value);
    else {
      this.context.unreadable(decoded.error);
      this.unreadable('the stored kill switch cannot be decoded');
    }
  }

  /** The shared state cannot be read: release a kill switch that came from it. */
  unreadable(why: string): void {
    this.currentSeq = 0; // whatever is stored applies again once it can be read
    if (!this.remoteKillSwitch || !this.target.controls.killSwitch) return;
    this.remoteKillSwitch = false;
    this.context.logger.warn(`fleet kill switch state is unreadable (${why}): policies are active`);
    this.withoutEcho(() =>
      this.target.setKillSwitch(false, `kill switch state unreadable: ${why}`),
    );
  }

  /** The store is back: write a change it missed. */
  resync(): void {
    if (this.pending !== undefined) void this.flush();
  }

  private receive(record: ControlRecord): void {
    if (record.seq <= this.currentSeq) return;
    // A change made here and not stored yet is newer: it will be written above this one.
    if (this.pending !== undefined && this.pending.atWallMs >= record.atWallMs) return;
    this.currentSeq = record.seq;
    this.remoteKillSwitch = record.killSwitch;
    const reason = record.reason === '' ? `set by instance ${record.by}` : record.reason;
    this.withoutEcho(() => {
      this.target.setKillSwitch(record.killSwitch, reason);
      this.target.setMode(record.mode, reason);
    });
  }

  private withoutEcho(change: () => void): void {
    this.applying = true;
    try {
      change();
    } finally {
      this.applying = false;
    }
  }

  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending !== undefined) {
        const change = this.pending;
        try {
          await this.write(change);
          this.context.succeeded('control.write');
        } catch (error) {
          this.context.report('control.write', error);
          return; // written on recovery
        }
        if (this.pending === change) this.pending = undefined;
      }
    } finally {
      this.writing = false;
    }
  }

  private async write(change: LocalChange): Promise<void> {
    const store = this.context.store;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await store.get(CONTROL_KEY);
      let stored: ControlRecord | undefined;
      if (current !== undefined) {
        const decoded = controlCodec.decode(current.value);
        if (decoded.ok) stored = decoded.value;
      }
      if (stored !== undefined && stored.atWallMs > change.atWallMs) {
        // A later change was made elsewhere while this one waited: it wins.
        if (this.pending === change) this.pending = undefined;
        this.receive(stored);
        return;
      }
      const record: ControlRecord = {
        ...change,
        seq: Math.max(stored?.seq ?? 0, this.currentSeq) + 1,
      };
      const version = await store.set(CONTROL_KEY, controlCodec.encode(record), {
        ifVersion: current?.version ?? 0,
      });
      if (version === undefined) continue;
      this.currentSeq = Math.max(this.currentSeq, record.seq);
      this.channel.announce('control', controlCodec, record);
      return;
    }
    throw new Error(`the stored kill switch kept changing (${CAS_ATTEMPTS} attempts)`);
  }
}

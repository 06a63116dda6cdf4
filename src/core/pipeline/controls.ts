/**
 * Process-wide switches read on every call. Plain fields, so a check costs a
 * property load; changes come from the admin API, config or a peer through the
 * store, and notify listeners.
 */
export type Mode = 'enforce' | 'observe';

export interface ControlState {
  readonly killSwitch: boolean;
  readonly mode: Mode;
  readonly reason: string | undefined;
  readonly changedAtWallMs: number | undefined;
}

export class Controls {
  /** Every policy is pass-through while engaged. */
  killSwitch = false;
  /** Evaluate and emit, never reject. */
  observe = false;
  private reason: string | undefined = undefined;
  private changedAtWallMs: number | undefined = undefined;
  private listeners: ((state: ControlState) => void)[] = [];

  get state(): ControlState {
    return {
      killSwitch: this.killSwitch,
      mode: this.observe ? 'observe' : 'enforce',
      reason: this.reason,
      changedAtWallMs: this.changedAtWallMs,
    };
  }

  /** Apply a change; false when nothing changed. */
  update(
    change: { killSwitch?: boolean; mode?: Mode; reason?: string },
    atWallMs: number,
  ): boolean {
    const killSwitch = change.killSwitch ?? this.killSwitch;
    const observe = change.mode === undefined ? this.observe : change.mode === 'observe';
    if (killSwitch === this.killSwitch && observe === this.observe) return false;
    this.killSwitch = killSwitch;
    this.observe = observe;
    this.reason = change.reason;
    this.changedAtWallMs = atWallMs;
    const state = this.state;
    for (const listener of this.listeners) listener(state);
    return true;
  }

  onChange(listener: (state: ControlState) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter(l => l !== listener);
    };
  }
}

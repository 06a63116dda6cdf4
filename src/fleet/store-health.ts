import type { Disposable } from '../core/events';
import type { StateStore } from '../core/store';
import { ResilientStore, type StoreHealthChange } from '../store/resilient-store';

/**
 * Whether the shared store is usable right now, and when that changes. A
 * networked store sits behind the ResilientStore, whose own breaker knows;
 * any other store (the memory store in tests) is always available.
 */
export class StoreHealthView {
  private readonly resilient: ResilientStore | undefined;

  constructor(store: StateStore) {
    this.resilient = store instanceof ResilientStore ? store : undefined;
  }

  /** False while the store's breaker keeps calls away: features use their local fallback. */
  get available(): boolean {
    return this.resilient?.available ?? true;
  }

  onChange(listener: (change: StoreHealthChange) => void): Disposable {
    return this.resilient?.onHealthChange(listener) ?? { dispose: () => undefined };
  }
}

/** Defaults of the fleet layer's two configurable periods (`store.reconcileInterval`, `store.snapshotInterval`). */
export const FLEET_RECONCILE_INTERVAL_DEFAULT_MS = 2_000;
export const FLEET_SNAPSHOT_INTERVAL_DEFAULT_MS = 10_000;

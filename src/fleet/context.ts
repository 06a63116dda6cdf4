import type { Clock } from '../core/clock';
import { StoreError } from '../core/store-errors';
import type { StateStore } from '../core/store';
import type { Logger } from '../log';
import type { FleetDecodeError } from './codec';
import type { StoreHealthView } from './store-health';

/** How the fleet layer behaves; resolved from `store.*` configuration. */
export interface FleetSettings {
  /** Period of the reconciliation read that heals missed messages. */
  readonly reconcileIntervalMs: number;
  /** Period of the instance status snapshot (kept for 3 periods). */
  readonly snapshotIntervalMs: number;
  /** Fleet-wide rate limits while the store is unavailable. */
  readonly rateLimitFallback: 'local' | 'open' | 'closed';
}

/** What every fleet component shares. */
export interface FleetContext {
  readonly store: StateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instanceId: string;
  readonly settings: FleetSettings;
  readonly health: StoreHealthView;
  /** A background store operation failed (logged once per operation until it works again). */
  report(operation: string, error: unknown): void;
  /** A stored or published value could not be decoded (logged once per codec); it is ignored. */
  unreadable(error: FleetDecodeError): void;
  /** The store answered: clear the "failed" log state of `operation`. */
  succeeded(operation: string): void;
}

/** The store was closed (by shutdown): a failure that says nothing about its health. */
export function isClosedStore(error: unknown): boolean {
  return error instanceof StoreError && error.reason === 'closed';
}

/** Run `body` and report a failure instead of throwing (fire-and-forget store work). */
export function background(
  context: FleetContext,
  operation: string,
  body: () => Promise<unknown>,
): void {
  body().then(
    () => context.succeeded(operation),
    (error: unknown) => context.report(operation, error),
  );
}

import type { Mode } from '../core/pipeline/controls';
import type {
  ListOptions,
  ListedDeadLetters,
  ReplayResult,
} from '../core/policies/dead-letter/dead-letter-queue';
import type { DeadLetterEntry } from '../core/policies/dead-letter/entry';
import type { BaldurEvent, BaldurEventType, Disposable, EventOfType } from '../core/events';
import type { EngineStatus } from '../engine/engine';
import { baldurGlobal, currentEngine, replayHandlerFor } from './global-state';

/**
 * Register how to replay dead letters captured under `name` (a protected
 * function or dependency). Without one, replay re-invokes the protected
 * function itself with the captured arguments.
 */
export function onReplay(
  name: string,
  handler: (args: unknown[], entry: DeadLetterEntry) => unknown,
): Disposable {
  const handlers = baldurGlobal().replayHandlers;
  handlers.set(name, handler);
  return { dispose: () => void (handlers.get(name) === handler && handlers.delete(name)) };
}

export const deadLetters = Object.freeze({
  /** Newest first; filter by dependency or status; page with `beforeId`. */
  list: (options?: ListOptions): Promise<ListedDeadLetters> =>
    currentEngine().listDeadLetters(options),
  get: (id: string): Promise<DeadLetterEntry | undefined> => currentEngine().getDeadLetter(id),
  /** Replay one entry through its handler; the entry records the outcome. */
  replay: (id: string): Promise<ReplayResult> =>
    currentEngine().replayDeadLetter(id, replayHandlerFor),
  remove: (id: string): Promise<boolean> => currentEngine().removeDeadLetter(id),
  /** Wait until captured entries are written to the store. */
  flush: (): Promise<void> => currentEngine().deadLetters.flush(),
});

/** Snapshot of every breaker, limiter and bulkhead, plus mode and kill switch. */
export function status(): EngineStatus {
  return currentEngine().status();
}

export const breakers = Object.freeze({
  /** Force open for `ttlMs` (default 90 minutes); false if no breaker has this name. */
  forceOpen: (name: string, ttlMs?: number): boolean => currentEngine().forceOpen(name, ttlMs),
  forceClose: (name: string, ttlMs?: number): boolean => currentEngine().forceClose(name, ttlMs),
  reset: (name: string): boolean => currentEngine().resetBreaker(name),
});

/** Turn every policy into pass-through (true) or back on (false). A reason is required. */
export function setKillSwitch(engaged: boolean, reason: string): void {
  currentEngine().setKillSwitch(engaged, reason);
}

/** `observe` evaluates and emits every decision but never rejects. */
export function setMode(mode: Mode, reason: string): void {
  currentEngine().setMode(mode, reason);
}

/**
 * Subscribe to Baldur's decisions: breaker transitions, retries, rejections,
 * timeouts, fallbacks, dead letters, cooldowns. A throwing listener is reported
 * and never affects the call that emitted.
 */
export const events = Object.freeze({
  on: <T extends BaldurEventType>(type: T, listener: (event: EventOfType<T>) => void): Disposable =>
    baldurGlobal().bus.on(type, listener),
  onAny: (listener: (event: BaldurEvent) => void): Disposable => baldurGlobal().bus.onAny(listener),
});

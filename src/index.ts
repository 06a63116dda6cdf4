/**
 * Baldur's programmatic API. Importing this module has no side effects: nothing
 * is patched, started or scheduled until you call a function.
 */
export { protect, type ProtectOptions, type Protected } from './api/protect';
export { start, shutdown } from './api/lifecycle';
export {
  onReplay,
  deadLetters,
  status,
  breakers,
  setKillSwitch,
  setMode,
  events,
} from './api/operations';

export {
  BaldurError,
  CircuitOpenError,
  RateLimitedError,
  BulkheadFullError,
  TimeoutError,
  CooldownError,
  IdempotencyConflictError,
  ShedError,
  isBaldurError,
  unwrapBaldurError,
} from './core/errors';
export { ConfigError } from './config/config-error';
export { DeadLetterReplayError } from './core/policies/dead-letter/dead-letter-queue';
export { ERROR_CODES, type ErrorCode } from './names/error-codes';
export {
  CANONICAL_ORDER,
  type BreakerState,
  type CallOutcome,
  type PolicyKind,
} from './names/policies';

export type { BaldurOptions, PolicyOptions } from './config/schema';
export type { Outcome } from './core/outcome';
export type { BaldurEvent, BaldurEventType, EventOfType, Disposable } from './core/events';
export type { DeadLetterEntry, DeadLetterStatus } from './core/policies/dead-letter/entry';
export type {
  ListOptions,
  ListedDeadLetters,
  ReplayResult,
} from './core/policies/dead-letter/dead-letter-queue';
export type { EngineStatus, InstanceInfo } from './engine/engine';
export type { PipelineStatus } from './core/pipeline/status';

import { BREAKER_STATES, type BreakerState } from '../names/policies';
import { defineCodec, is } from './codec';

/**
 * Every shape the fleet layer stores or publishes, each with its versioned
 * codec (`{"v":1,…}`). Times are wall-clock epoch milliseconds: they leave the
 * process. Store keys and channels are in names.ts.
 */

/** States a breaker record may carry (half-open is never stored: every worker reaches it by itself). */
export type StoredBreakerState = Exclude<BreakerState, 'half_open'>;
const STORED_BREAKER_STATES = BREAKER_STATES.filter(
  (s): s is StoredBreakerState => s !== 'half_open',
);

/**
 * The fleet's view of one breaker (key `breaker:<dependency>`), written with
 * compare-and-set by the worker that made the transition. `epoch` increases
 * by one on every write: it orders transitions fleet-wide, and names the
 * half-open probe round of an open breaker.
 */
export interface BreakerRecord {
  readonly dependency: string;
  readonly state: StoredBreakerState;
  readonly epoch: number;
  /** When an open breaker admits probes, or a forced state expires (0: not timed). */
  readonly untilWallMs: number;
  /** The local trigger (`consecutive_failures`, `probe_failed`, `probes_succeeded`, `forced`, `reset`, …). */
  readonly reason: string;
  /** Instance id of the worker that made the transition. */
  readonly by: string;
  readonly atWallMs: number;
}

export const breakerCodec = defineCodec<BreakerRecord>('breaker', 1, {
  dependency: is.string,
  state: is.oneOf(STORED_BREAKER_STATES),
  epoch: is.number,
  untilWallMs: is.number,
  reason: is.string,
  by: is.string,
  atWallMs: is.number,
});

/** One line of breaker history (collection `breaker-transitions`, newest first when listed). */
export interface TransitionRecord {
  readonly dependency: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: string;
  readonly epoch: number;
  readonly untilWallMs: number;
  readonly by: string;
  readonly atWallMs: number;
}

export const transitionCodec = defineCodec<TransitionRecord>('breaker-transition', 1, {
  dependency: is.string,
  from: is.oneOf(BREAKER_STATES),
  to: is.oneOf(BREAKER_STATES),
  reason: is.string,
  epoch: is.number,
  untilWallMs: is.number,
  by: is.string,
  atWallMs: is.number,
});

/** The fleet's kill switch and mode (key `control`). */
export interface ControlRecord {
  /** Increases by one on every write (compare-and-set): orders changes fleet-wide. */
  readonly seq: number;
  readonly killSwitch: boolean;
  readonly mode: 'enforce' | 'observe';
  readonly reason: string;
  readonly by: string;
  readonly atWallMs: number;
}

export const controlCodec = defineCodec<ControlRecord>('control', 1, {
  seq: is.number,
  killSwitch: is.boolean,
  mode: is.oneOf(['enforce', 'observe'] as const),
  reason: is.string,
  by: is.string,
  atWallMs: is.number,
});

/** A 429 cooldown announced to peers (the stored value is the bare deadline, kept with `raise`). */
export interface CooldownNotice {
  readonly dependency: string;
  readonly untilWallMs: number;
}

export const cooldownCodec = defineCodec<CooldownNotice>('cooldown', 1, {
  dependency: is.string,
  untilWallMs: is.number,
});

/** What travels on the fleet channel: one envelope, the payload decoded by the codec its type names. */
export interface FleetMessage {
  readonly type: 'breaker' | 'cooldown' | 'control';
  /** Instance id of the sender (a worker ignores its own messages). */
  readonly from: string;
  readonly body: unknown;
}

export const messageCodec = defineCodec<FleetMessage>('fleet-message', 1, {
  type: is.oneOf(['breaker', 'cooldown', 'control'] as const),
  from: is.string,
  body: is.object<{ v: number }>({ v: is.number }),
});

export interface SnapshotInstance {
  readonly id: string;
  readonly serviceName?: string | undefined;
  readonly hostname: string;
  readonly pid: number;
  readonly startedAtWallMs: number;
}

/** One pipeline in a status snapshot: `PipelineStatus` as JSON (display only, checked for its name). */
export interface SnapshotPipeline {
  readonly name: string;
  readonly [field: string]: unknown;
}

const isNamed = (value: unknown): value is SnapshotPipeline =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { name?: unknown }).name === 'string';

/**
 * An instance's periodic status (collection `instances`, record id = instance
 * id), for `/status` and the console. It expires `ttlMs` after `atWallMs`
 * unless refreshed.
 */
export interface InstanceSnapshot {
  readonly instance: SnapshotInstance;
  readonly atWallMs: number;
  readonly ttlMs: number;
  readonly mode: 'enforce' | 'observe';
  readonly killSwitch: boolean;
  readonly controlReason?: string | undefined;
  readonly store: { readonly kind: string; readonly available: boolean };
  readonly pipelines: readonly SnapshotPipeline[];
  /** Pipelines left out of this snapshot (beyond the cap). */
  readonly omittedPipelines: number;
}

export const snapshotCodec = defineCodec<InstanceSnapshot>('instance-snapshot', 1, {
  instance: is.object<SnapshotInstance>({
    id: is.string,
    serviceName: is.optional(is.string),
    hostname: is.string,
    pid: is.number,
    startedAtWallMs: is.number,
  }),
  atWallMs: is.number,
  ttlMs: is.number,
  mode: is.oneOf(['enforce', 'observe'] as const),
  killSwitch: is.boolean,
  controlReason: is.optional(is.string),
  store: is.object<{ kind: string; available: boolean }>({
    kind: is.string,
    available: is.boolean,
  }),
  pipelines: is.array(isNamed),
  omittedPipelines: is.number,
});

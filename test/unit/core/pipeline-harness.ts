import { resolvePipelineOptions, type PipelineExtras } from '../../../src/config/policies';
import { policySchema, type PolicyOptions } from '../../../src/config/schema';
import { INVALID, ParseContext } from '../../../src/config/schema-dsl';
import { Deadlines } from '../../../src/core/deadlines';
import { EventBus, type BaldurEvent, type EventfulCallEvent } from '../../../src/core/events';
import { Controls } from '../../../src/core/pipeline/controls';
import type { CallOptions } from '../../../src/core/pipeline/options';
import { Pipeline, type PipelineServices } from '../../../src/core/pipeline/pipeline';
import { DeadLetterQueue } from '../../../src/core/policies/dead-letter/dead-letter-queue';
import { DEAD_LETTER_LIMIT_DEFAULTS } from '../../../src/core/policies/dead-letter/options';
import { IdempotencyGate } from '../../../src/core/policies/idempotency/idempotency-gate';
import type { StateStore } from '../../../src/core/store';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { FakeClock, flushPromises } from '../../support/fake-clock';

/** Deterministic [0, 1) generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Policy input as a user writes it ('5s' or ms), validated like config and protect() do. */
export function parsePolicy(input: PolicyOptions) {
  const ctx = new ParseContext();
  const parsed = policySchema.parse(input, '', ctx);
  if (parsed === INVALID || ctx.issues.length > 0)
    throw new Error(`bad policy in test: ${JSON.stringify(ctx.issues)}`);
  return parsed;
}

/**
 * Everything quiet unless a test asks for it: no breaker, no retry, no cooldown.
 * Tests switch on exactly the policies they exercise.
 */
export const QUIET: PolicyOptions = Object.freeze({
  circuitBreaker: false,
  retry: false,
  cooldown: false,
});

export interface HarnessOptions {
  readonly name?: string;
  readonly extras?: PipelineExtras;
  readonly store?: StateStore;
  readonly measureDurations?: boolean;
  readonly seed?: number;
}

export type Harness = ReturnType<typeof harness>;

/** A Pipeline built directly on fake services, recording every event and internal error. */
export function harness(policy: PolicyOptions, options: HarnessOptions = {}) {
  const name = options.name ?? 'dep';
  const clock = new FakeClock();
  const errors: { operation: string; error: unknown }[] = [];
  const bus = new EventBus(error => errors.push({ operation: 'listener', error }));
  const controls = new Controls();
  const reportError = (operation: string, error: unknown): void => {
    errors.push({ operation, error });
  };
  const store = options.store ?? new MemoryStore({ clock });
  const deadLetters = new DeadLetterQueue(
    new MemoryStore({ clock }),
    clock,
    DEAD_LETTER_LIMIT_DEFAULTS,
    bus,
    'test',
    reportError,
  );
  const idempotency = new IdempotencyGate(store, clock, 'owner');
  const services: PipelineServices = {
    clock,
    deadlines: new Deadlines(clock),
    bus,
    controls,
    random: seededRandom(options.seed ?? 1),
    deadLetters,
    idempotency,
    measureDurations: options.measureDurations ?? false,
    reportError,
  };
  const pipelineOptions = resolvePipelineOptions(
    name,
    [parsePolicy({ ...QUIET, ...policy })],
    options.extras ?? {},
  );
  const pipeline = new Pipeline(pipelineOptions, services);
  const events: BaldurEvent[] = [];
  bus.onAny(event => events.push(event));

  return {
    name,
    clock,
    bus,
    controls,
    store,
    deadLetters,
    idempotency,
    services,
    pipeline,
    events,
    errors,
    /** Start a call; its settlement is tracked without awaiting it. */
    call<T = unknown>(
      fn: (...args: never[]) => unknown,
      args: readonly unknown[] = [],
      call?: CallOptions,
    ): Tracked<T> {
      return track<T>(pipeline.execute(fn, undefined, args, call));
    },
    /** Types of the events seen so far, in order. */
    types(): string[] {
      return events.map(e => e.type);
    },
    eventful(): EventfulCallEvent[] {
      return events.filter((e): e is EventfulCallEvent => e.type === 'call.eventful');
    },
    ofType<T extends BaldurEvent['type']>(type: T): Extract<BaldurEvent, { type: T }>[] {
      return events.filter((e): e is Extract<BaldurEvent, { type: T }> => e.type === type);
    },
    /** Let promise callbacks run and move time forward. */
    advance(ms: number): Promise<void> {
      return clock.advanceAsync(ms);
    },
    flush: flushPromises,
  };
}

export interface Tracked<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
  readonly ok: boolean;
  readonly value: T | undefined;
  readonly error: unknown;
}

/** Observe a promise's outcome synchronously (after the test lets callbacks run). */
export function track<T>(promise: Promise<unknown>): Tracked<T> {
  const state: { settled: boolean; ok: boolean; value: T | undefined; error: unknown } = {
    settled: false,
    ok: false,
    value: undefined,
    error: undefined,
  };
  const settledPromise = promise.then(
    value => {
      state.settled = true;
      state.ok = true;
      state.value = value as T;
      return value as T;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
      throw error;
    },
  );
  settledPromise.catch(() => {}); // observed through `state`; never an unhandled rejection
  return {
    promise: settledPromise,
    get settled() {
      return state.settled;
    },
    get ok() {
      return state.ok;
    },
    get value() {
      return state.value;
    },
    get error() {
      return state.error;
    },
  };
}

/** A callee whose calls stay pending until the test settles them. */
export function deferred() {
  const calls: {
    readonly args: unknown[];
    resolve(value?: unknown): void;
    reject(error: unknown): void;
  }[] = [];
  const fn = (...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => calls.push({ args, resolve, reject }));
  return { fn, calls };
}

export type Step = { ok: unknown } | { error: unknown } | { ms: number; then: Step };

/**
 * A callee that plays `steps` in order (the last one repeats): a value, a thrown
 * error, or either after `ms` on the fake clock.
 */
export function scripted(clock: FakeClock, steps: readonly Step[]) {
  let index = 0;
  const seen: unknown[][] = [];
  const play = (step: Step): Promise<unknown> => {
    if ('ms' in step) {
      return new Promise<void>(resolve => clock.setTimer(resolve, step.ms)).then(() =>
        play(step.then),
      );
    }
    if ('ok' in step) return Promise.resolve(step.ok);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a dependency may throw anything
    return Promise.reject(step.error);
  };
  const fn = (...args: unknown[]): Promise<unknown> => {
    seen.push(args);
    const step = steps[Math.min(index++, steps.length - 1)]!;
    return play(step);
  };
  return {
    fn,
    get count() {
      return seen.length;
    },
    seen,
  };
}

export const ok = (value: unknown): Step => ({ ok: value });
export const fail = (error: unknown): Step => ({ error });
export const after = (ms: number, then: Step): Step => ({ ms, then });

/** An error a server might throw with a back-off hint. */
export function tooManyRequests(retryAfterSeconds: string, status = 429): Error {
  return Object.assign(new Error(`HTTP ${status}`), {
    response: { status, ok: false, headers: { 'retry-after': retryAfterSeconds } },
  });
}

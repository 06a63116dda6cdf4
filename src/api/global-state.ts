import { EventBus } from '../core/events';
import { newDurationSlot, type DurationSinkSlot } from '../core/pipeline/stats';
import type { ReplayHandler } from '../core/policies/dead-letter/dead-letter-queue';
import { loadConfig } from '../config/load';
import { Engine } from '../engine/engine';

/**
 * Process-wide state, kept on `globalThis` under a versioned symbol so that the
 * preload agent and the application share one engine even when they load
 * different copies of this package (the way `@opentelemetry/api` does it).
 */
interface BaldurGlobal {
  engine: Engine | undefined;
  /** `onReplay(name, handler)` registrations; they outlive engine restarts. */
  readonly replayHandlers: Map<string, ReplayHandler>;
  /** Replay through the protected function itself when no handler was registered. */
  readonly defaultReplays: Map<string, ReplayHandler>;
  /** One bus for the process, so `events.on()` subscriptions survive `start()`. */
  readonly bus: EventBus;
  /** What the telemetry layer asks of every engine, including ones `start()` creates later. */
  readonly telemetry: {
    /** Measure per-call durations (metrics are exported). */
    measureDurations: boolean;
    readonly durationSink: DurationSinkSlot;
  };
}

const KEY = Symbol.for('baldur.global.v1');

export function baldurGlobal(): BaldurGlobal {
  const holder = globalThis as unknown as Record<symbol, BaldurGlobal | undefined>;
  let state = holder[KEY];
  if (state === undefined) {
    state = {
      engine: undefined,
      replayHandlers: new Map(),
      defaultReplays: new Map(),
      bus: new EventBus(error =>
        process.emitWarning(`baldur: an event listener threw: ${String(error)}`),
      ),
      telemetry: { measureDurations: false, durationSink: newDurationSlot() },
    };
    Object.defineProperty(globalThis, KEY, { value: state, enumerable: false, configurable: true });
  }
  // A state created by an older copy of this package has no telemetry settings (or switch) yet.
  const telemetry = ((state as { telemetry?: BaldurGlobal['telemetry'] }).telemetry ??= {
    measureDurations: false,
    durationSink: newDurationSlot(),
  });
  (telemetry.durationSink as Partial<DurationSinkSlot>).measuring ??= true;
  return state;
}

/** The running engine; without `start()`, one with built-in defaults is created on first use. */
export function currentEngine(): Engine {
  const state = baldurGlobal();
  state.engine ??= new Engine({
    config: loadConfig({ files: false }).config,
    bus: state.bus,
    ...engineTelemetryOptions(state),
  });
  return state.engine;
}

/** The telemetry settings every engine of this process is built with. */
export function engineTelemetryOptions(state: BaldurGlobal = baldurGlobal()): {
  measureDurations: boolean;
  durationSink: DurationSinkSlot;
} {
  return {
    measureDurations: state.telemetry.measureDurations,
    durationSink: state.telemetry.durationSink,
  };
}

export function replayHandlerFor(name: string): ReplayHandler | undefined {
  const state = baldurGlobal();
  return state.replayHandlers.get(name) ?? state.defaultReplays.get(name);
}

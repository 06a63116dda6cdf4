import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  ProxyTracerProvider,
  createNoopMeter,
  metrics,
  trace,
  type Meter,
  type Tracer,
} from '@opentelemetry/api';
import type { BaldurConfig } from '../config/load';
import type { OtelEnvironment } from '../config/otel-env';
import type { EventfulCallEvent } from '../core/events';
import type { Pipeline } from '../core/pipeline/pipeline';
import type { DurationSinkSlot } from '../core/pipeline/stats';
import type { Engine } from '../engine/engine';
import type { Logger } from '../log';
import { INSTRUMENTATION_SCOPE } from '../names/attributes';
import type { BreakerState } from '../names/policies';
import { durationHistogramSink, registerMetrics, type MetricSource } from './metrics';
import { attachStoreRecorder, observedStore } from './store-metrics';
import type * as Owned from './owned';
import { CallSpans } from './spans';
import type { TransitionLog } from './transitions';

const lazyRequire = createRequire(__filename);

/** What the preload-side controller hands to the OpenTelemetry side. */
export interface RuntimeContext {
  readonly config: BaldurConfig;
  readonly otel: OtelEnvironment;
  readonly logger: Logger;
  /** The engine in use now (`start()` may replace the agent's). */
  readonly engine: () => Engine | undefined;
  readonly transitions: TransitionLog;
  readonly durationSink: DurationSinkSlot;
  /** Increases on every dead letter captured or replayed by this process. */
  readonly deadLetterChanges: () => number;
}

/** Telemetry after the decision: who owns the SDK and what reports through it. */
export interface ActiveTelemetry {
  /** `baldur`: Baldur started the SDK; `application`: one was registered; `none`: neither. */
  readonly owner: 'baldur' | 'application' | 'none';
  /** One line for the log. */
  readonly description: string;
  /** Calls that met a decision become spans (false: nothing would record them). */
  readonly tracing: boolean;
  recordCall(event: EventfulCallEvent): void;
  /** A client library was loaded (Baldur-owned SDK only): apply the official instrumentation. */
  onLibraryLoad(moduleExports: unknown, name: string, version: string | undefined): unknown;
  flush(deadlineMs: number): Promise<void>;
  shutdown(): Promise<void>;
}

/** Re-check for a meter provider registered after the decision, this long after it (then give up). */
const LATE_METER_CHECKS_MS = [1_000, 5_000, 30_000];

/**
 * Whether tracer / meter providers are registered globally (by the application,
 * another preload or another copy of OpenTelemetry). An unregistered API answers
 * with its own no-op proxy and no-op meter; anything else counts as registered.
 */
export function registeredProviders(version: string): { tracer: boolean; meter: boolean } {
  const tracerProvider = trace.getTracerProvider();
  const tracer =
    !(tracerProvider instanceof ProxyTracerProvider) ||
    tracerProvider.getDelegate() !== new ProxyTracerProvider().getDelegate();
  const meter =
    metrics.getMeterProvider().getMeter(INSTRUMENTATION_SCOPE, version) !== createNoopMeter();
  return { tracer, meter };
}

let cachedVersion: string | undefined;

/** This package's version (the instrumentation scope version). */
export function baldurVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let directory = __dirname;
  for (let depth = 0; depth < 5; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'baldur' && manifest.version !== undefined) {
        return (cachedVersion = manifest.version);
      }
    } catch {
      // not here; look further up
    }
    directory = dirname(directory);
  }
  return (cachedVersion = '0.0.0');
}

/**
 * Decide who owns the SDK and wire Baldur's metrics and spans to it. Runs once,
 * after the application had its chance to register its own SDK.
 *
 * - `BALDUR_OTEL_SDK=auto` and nothing registered: start Baldur's lean SDK from
 *   the `OTEL_*` environment, report through it, apply the official client
 *   instrumentations, and export `baldur.call.duration` through a metric
 *   producer (no SDK work per call).
 * - Otherwise (`off`, `OTEL_SDK_DISABLED=true`, or an SDK already registered):
 *   start nothing and report through the global API. Durations are then
 *   recorded per call with the registered SDK's histogram.
 */
export function activate(ctx: RuntimeContext): ActiveTelemetry {
  const version = baldurVersion();
  const registered = registeredProviders(version);
  const pipelines = (): readonly Pipeline[] => ctx.engine()?.list() ?? [];
  const source: MetricSource = {
    pipelines,
    transitions: () => ctx.transitions.totals(),
    deadLetters: () => ctx.engine()?.deadLetters,
    deadLetterChanges: ctx.deadLetterChanges,
    maxDeadLetters: ctx.config.deadLetters.maxEntries,
    reportError: (what, error) =>
      ctx.logger.once(`telemetry:${what}`, 'warn', `telemetry ${what} failed`, error),
  };
  const breakerState = (dependency: string): BreakerState | undefined =>
    ctx.engine()?.find(dependency)?.breaker?.state;
  const mayOwn = ctx.config.otelSdk === 'auto' && !ctx.otel.sdkDisabled;

  if (mayOwn && !registered.tracer && !registered.meter) {
    // The SDK packages load only on this path: with an application SDK (or none) only the API does.
    const owned = lazyRequire('./owned') as typeof Owned;
    return owned.startOwned(ctx, { version, pipelines, source, breakerState });
  }

  // Report through whatever is registered globally (possibly nothing yet).
  const tracer: Tracer = trace.getTracer(INSTRUMENTATION_SCOPE, version);
  const spans = new CallSpans(tracer, breakerState);
  let removeMetrics: (() => void) | undefined;
  let removeStoreRecorder: (() => void) | undefined;
  const attachMeter = (meter: Meter): void => {
    removeMetrics = registerMetrics(meter, source);
    ctx.durationSink.current = durationHistogramSink(meter);
    const store = observedStore(ctx.engine()?.store);
    if (store !== undefined) removeStoreRecorder = attachStoreRecorder(meter, store);
  };
  const timers: NodeJS.Timeout[] = [];
  const meter = metrics.getMeter(INSTRUMENTATION_SCOPE, version);
  if (meter !== createNoopMeter()) attachMeter(meter);
  else {
    // The API has no proxy meter: a provider registered later is picked up by looking again.
    for (const delayMs of LATE_METER_CHECKS_MS) {
      const timer = setTimeout(() => {
        if (removeMetrics !== undefined) return;
        const late = metrics.getMeter(INSTRUMENTATION_SCOPE, version);
        if (late !== createNoopMeter()) attachMeter(late);
      }, delayMs);
      timer.unref();
      timers.push(timer);
    }
  }
  const owner = registered.tracer || registered.meter ? 'application' : 'none';
  const reason = ctx.otel.sdkDisabled
    ? 'OTEL_SDK_DISABLED=true'
    : ctx.config.otelSdk === 'off'
      ? 'BALDUR_OTEL_SDK=off'
      : 'an SDK is already registered';
  return {
    owner,
    description:
      owner === 'application'
        ? `reporting through the application's OpenTelemetry SDK (${reason})`
        : `no OpenTelemetry SDK registered and none started (${reason}); telemetry goes to the global API`,
    tracing: true,
    recordCall: event => spans.record(event),
    onLibraryLoad: moduleExports => moduleExports,
    flush: () => Promise.resolve(),
    shutdown() {
      for (const timer of timers) clearTimeout(timer);
      removeMetrics?.();
      removeStoreRecorder?.();
      ctx.durationSink.current = undefined;
      return Promise.resolve();
    },
  };
}

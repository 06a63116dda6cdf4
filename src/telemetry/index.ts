/**
 * Baldur's OpenTelemetry layer — the only code that loads `@opentelemetry/*`.
 * This file is what the preload loads: it subscribes to the engine's events and
 * adds patches to the agent's module hooks, and loads nothing of OpenTelemetry.
 * Breaker transitions are counted and logged from here on. The decision (start
 * Baldur's SDK, or report through the application's) and everything it needs
 * are loaded later by `./runtime`, once the application had its chance to
 * register an SDK of its own:
 *
 * - CommonJS entry point: right after its synchronous top level ran (a
 *   `require('./tracing')` at its top is seen);
 * - ES module entry point (evaluated asynchronously, after the preload): on the
 *   first call that needs a span, the first client library load, or 1 s after
 *   startup, whichever comes first;
 * - at the latest on the exit flush.
 */
import { createRequire } from 'node:module';
import type { ModuleHooks } from '../../instrumentations/shared/module-hooks';
import type { BaldurConfig } from '../config/load';
import type { OtelEnvironment } from '../config/otel-env';
import type { Disposable, EventBus, EventfulCallEvent } from '../core/events';
import type { DurationSinkSlot } from '../core/pipeline/stats';
import type { Engine } from '../engine/engine';
import type { Logger } from '../log';
import { OfficialInstrumentations } from './official';
import type * as Runtime from './runtime';
import { TransitionLog } from './transitions';

const lazyRequire = createRequire(__filename);

/** ES module apps: decide this long after startup unless something needs telemetry sooner. */
const ESM_DECISION_DELAY_MS = 1_000;

/** Without an SDK to start or report through, look again for one this long after the decision. */
const DORMANT_CHECKS_MS = [1_000, 5_000, 30_000];

/**
 * Whether a tracer or meter provider is registered with the OpenTelemetry API,
 * read from the API's process-global registration (where every copy of
 * `@opentelemetry/api` registers), so the API is not loaded to find nothing.
 */
function providersRegistered(): boolean {
  const api = (globalThis as Record<symbol, { trace?: unknown; metrics?: unknown } | undefined>)[
    Symbol.for('opentelemetry.js.api.1')
  ];
  return api?.trace !== undefined || api?.metrics !== undefined;
}

export interface TelemetryOptions {
  readonly config: BaldurConfig;
  readonly otel: OtelEnvironment;
  readonly logger: Logger;
  readonly bus: EventBus;
  /** The engine in use now (`start()` may replace the agent's). */
  readonly engine: () => Engine | undefined;
  readonly durationSink: DurationSinkSlot;
  /** Loaded with `--import`: the entry point is (evaluated as) an ES module. */
  readonly esm: boolean;
}

/**
 * `dormant`: decided, but there is nothing to report through (no SDK to start, none registered);
 * nothing of OpenTelemetry is loaded until an SDK appears.
 */
type State = 'pending' | 'dormant' | 'deciding' | 'active' | 'failed' | 'closed';

export class Telemetry {
  /** Per-call durations are worth measuring: metrics (their histogram) or traces (span timing) may be exported. */
  readonly measureDurations: boolean;
  private readonly transitions: TransitionLog;
  private readonly subscriptions: Disposable[] = [];
  private callSubscription: Disposable | undefined;
  private state: State = 'pending';
  private active: Runtime.ActiveTelemetry | undefined;
  private timer: NodeJS.Timeout | undefined;
  private deadLetterChanges = 0;

  constructor(private readonly options: TelemetryOptions) {
    const { bus, otel } = options;
    this.transitions = new TransitionLog(bus, options.logger);
    this.measureDurations =
      !otel.sdkDisabled && (otel.metricsExporters.length > 0 || otel.tracesExporters.length > 0);
    // Until the decision: calls made meanwhile are measured in case an SDK will read them.
    options.durationSink.measuring = true;
    this.callSubscription = bus.on('call.eventful', event => this.onEventfulCall(event));
    this.subscriptions.push(
      bus.on('dead_letter.captured', () => this.deadLetterChanges++),
      bus.on('dead_letter.replayed', () => this.deadLetterChanges++),
    );
    for (const warning of otel.warnings) options.logger.warn(warning);
  }

  /**
   * Hook the client libraries whose official OpenTelemetry instrumentation
   * Baldur applies when it owns the SDK, through the agent's module hooks (one
   * loader hook for everything). Must run before the instrumentations add
   * their patches: patches of one module apply in the order they were added,
   * so the official wrapper ends up inside Baldur's (one client span per attempt).
   */
  addLibraryPatches(hooks: ModuleHooks): void {
    const { config, otel } = this.options;
    const owning = config.otelSdk === 'auto' && !otel.sdkDisabled;
    if (!owning || !config.otelClientSpans || otel.tracesExporters.length === 0) return;
    for (const { module, file } of OfficialInstrumentations.targetsFor(config.instrumentations)) {
      const name = file === undefined ? module : `${module}/${file}`;
      hooks.add({
        module,
        ...(file === undefined ? {} : { file }),
        // Each instrumentation checks its own supported versions.
        versions: '>=0.0.0',
        patch: (moduleExports, _context, version) => {
          this.onLibraryLoad(moduleExports, name, version);
        },
      });
    }
  }

  /** Schedule the decision (see the top of this file). */
  schedule(): void {
    if (this.options.esm) {
      this.decideLater();
      return;
    }
    process.nextTick(() => {
      // No CommonJS main module after the preload's tick: an ES module entry point, still loading.
      // (`require.main` of a preloaded module is fixed before the main module exists.)
      if (process.mainModule === undefined && process.argv[1] !== undefined) this.decideLater();
      else this.activate();
    });
  }

  /** Export what is pending within `deadlineMs` (exit paths). Never rejects. */
  async flush(deadlineMs: number): Promise<void> {
    try {
      await this.activate()?.flush(deadlineMs);
    } catch (error) {
      // Almost always a failed export, which the exporter already reported.
      this.options.logger.debug(`flushing telemetry failed: ${String(error)}`);
    }
  }

  async shutdown(): Promise<void> {
    this.state = 'closed';
    this.options.durationSink.measuring = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.stopRecordingCalls();
    for (const subscription of this.subscriptions.splice(0)) subscription.dispose();
    this.transitions.dispose();
    const active = this.active;
    this.active = undefined;
    await active?.shutdown();
  }

  /** Nothing to report through: load nothing, and look for a late SDK a few times. */
  private sleep(): void {
    const { config, otel, logger } = this.options;
    if (this.state === 'pending') {
      const reason = otel.sdkDisabled
        ? 'OTEL_SDK_DISABLED=true'
        : config.otelSdk === 'off'
          ? 'BALDUR_OTEL_SDK=off'
          : 'OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER are none';
      logger.info(
        `no OpenTelemetry SDK registered and none started (${reason}); telemetry goes to the global API once one is registered`,
      );
      for (const delayMs of DORMANT_CHECKS_MS) setTimeout(() => this.activate(), delayMs).unref();
    }
    this.state = 'dormant';
    // Nothing reads call durations: skip their clock reads until an SDK appears.
    this.options.durationSink.measuring = false;
  }

  private decideLater(): void {
    this.timer = setTimeout(() => this.activate(), ESM_DECISION_DELAY_MS);
    this.timer.unref();
  }

  /** Make the decision now if it is still pending; the active telemetry, if any. */
  private activate(): Runtime.ActiveTelemetry | undefined {
    if (this.state === 'dormant' && providersRegistered()) this.state = 'pending';
    if (this.state !== 'pending') return this.active;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const { config, otel, logger } = this.options;
    const mayOwn =
      config.otelSdk === 'auto' &&
      !otel.sdkDisabled &&
      (otel.tracesExporters.length > 0 || otel.metricsExporters.length > 0);
    if (!mayOwn && !providersRegistered()) {
      this.sleep();
      return undefined;
    }
    this.state = 'deciding';
    const startedMs = performance.now();
    try {
      const runtime = lazyRequire('./runtime') as typeof Runtime;
      const active = runtime.activate({
        config: this.options.config,
        otel: this.options.otel,
        logger,
        engine: this.options.engine,
        transitions: this.transitions,
        durationSink: this.options.durationSink,
        deadLetterChanges: () => this.deadLetterChanges,
      });
      this.active = active;
      this.state = 'active';
      // Time calls again: spans carry each eventful call's start and duration, meters its histogram.
      this.options.durationSink.measuring = true;
      logger.info(`${active.description} [${Math.round(performance.now() - startedMs)} ms]`);
      if (!active.tracing) this.stopRecordingCalls();
    } catch (error) {
      this.state = 'failed';
      this.options.durationSink.measuring = false;
      this.stopRecordingCalls();
      logger.error('OpenTelemetry could not be set up; Baldur runs without telemetry', error);
    }
    return this.active;
  }

  /** Without a listener, pipelines do not even assemble `call.eventful`. */
  private stopRecordingCalls(): void {
    this.callSubscription?.dispose();
    this.callSubscription = undefined;
  }

  private onEventfulCall(event: EventfulCallEvent): void {
    const active = this.activate();
    if (active === undefined) return;
    try {
      active.recordCall(event);
    } catch (error) {
      this.options.logger.once('telemetry:span', 'warn', 'recording a span failed', error);
    }
  }

  private onLibraryLoad(moduleExports: unknown, name: string, version: string): void {
    const active = this.activate();
    if (active === undefined || active.owner !== 'baldur') return;
    try {
      const patched = active.onLibraryLoad(moduleExports, name, version);
      if (patched !== moduleExports) {
        // The official patches used here modify exports in place; say so if one ever does not.
        this.options.logger.once(
          `telemetry:replaced:${name}`,
          'warn',
          `the OpenTelemetry instrumentation replaced the exports of ${name}; its client spans may be missing`,
        );
      }
    } catch (error) {
      this.options.logger.once(
        `telemetry:patch:${name}`,
        'warn',
        `applying the OpenTelemetry instrumentation to ${name} failed`,
        error,
      );
    }
  }
}

/**
 * Set up telemetry for the agent. Never throws: a failure is one log line and
 * the application runs without telemetry.
 */
export function createTelemetry(options: TelemetryOptions): Telemetry | undefined {
  try {
    return new Telemetry(options);
  } catch (error) {
    options.logger.error('telemetry could not be set up; Baldur runs without it', error);
    return undefined;
  }
}

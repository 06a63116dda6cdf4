import type { Pipeline } from '../core/pipeline/pipeline';
import { INSTRUMENTATION_SCOPE } from '../names/attributes';
import type { BreakerState } from '../names/policies';
import { DurationProducer } from './duration-producer';
import { observedStore } from './store-metrics';
import { registerMetrics, type MetricSource } from './metrics';
import { OfficialInstrumentations } from './official';
import type { ActiveTelemetry, RuntimeContext } from './runtime';
import { OwnedSdk } from './sdk';
import { CallSpans } from './spans';

export interface OwnedInputs {
  readonly version: string;
  readonly pipelines: () => readonly Pipeline[];
  readonly source: MetricSource;
  readonly breakerState: (dependency: string) => BreakerState | undefined;
}

/**
 * Baldur owns the SDK: start it from the `OTEL_*` environment, report through
 * it, apply the official client instrumentations (when traces are exported),
 * and export `baldur.call.duration` through a metric producer, so no SDK work
 * happens per call. Loaded only when nothing else registered an SDK.
 */
export function startOwned(ctx: RuntimeContext, inputs: OwnedInputs): ActiveTelemetry {
  const { version, pipelines, source, breakerState } = inputs;
  const scope = { name: INSTRUMENTATION_SCOPE, version };
  const sdk = new OwnedSdk({
    otel: ctx.otel,
    serviceName: ctx.config.serviceName,
    version,
    logger: ctx.logger,
    producer: (temporality, resource) =>
      new DurationProducer(pipelines, temporality, resource, scope, undefined, () =>
        observedStore(ctx.engine()?.store),
      ),
  });
  const tracer = sdk.tracerProvider?.getTracer(INSTRUMENTATION_SCOPE, version);
  const meter = sdk.meterProvider?.getMeter(INSTRUMENTATION_SCOPE, version);
  const removeMetrics = meter === undefined ? undefined : registerMetrics(meter, source);
  let official: OfficialInstrumentations | undefined;
  if (sdk.tracerProvider !== undefined && ctx.config.otelClientSpans) {
    official = new OfficialInstrumentations(
      ctx.config.instrumentations,
      sdk.tracerProvider,
      sdk.meterProvider,
      ctx.logger,
      sdk.prometheusPort,
    );
    official.applyBuiltins();
  }
  const spans = tracer === undefined ? undefined : new CallSpans(tracer, breakerState);
  return {
    owner: 'baldur',
    description: `started the OpenTelemetry SDK (${sdk.description}; client spans: ${official?.describe() ?? 'off'})`,
    tracing: spans !== undefined,
    recordCall: event => spans?.record(event),
    onLibraryLoad: (moduleExports, name, moduleVersion) =>
      official === undefined ? moduleExports : official.onLoad(moduleExports, name, moduleVersion),
    flush: deadlineMs => sdk.flush(deadlineMs),
    async shutdown() {
      removeMetrics?.();
      await sdk.shutdown();
    },
  };
}

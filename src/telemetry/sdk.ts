import { createRequire } from 'node:module';
import {
  DiagConsoleLogger,
  context,
  diag,
  metrics,
  propagation,
  trace,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  diagLogLevelFromString,
} from '@opentelemetry/core';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type Resource,
  type ResourceDetector,
} from '@opentelemetry/resources';
import {
  AggregationTemporality,
  ConsoleMetricExporter,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { OtelEnvironment } from '../config/otel-env';
import type { Logger } from '../log';
import {
  ExitWindow,
  LazyMetricExporter,
  otlpSpanExporter,
  temporalitySelector,
  zipkinSpanExporter,
} from './exporters';

const lazyRequire = createRequire(__filename);

export interface OwnedSdkOptions {
  readonly otel: OtelEnvironment;
  /** `BALDUR_SERVICE_NAME` (or `OTEL_SERVICE_NAME`); overrides the detected `service.name`. */
  readonly serviceName: string | undefined;
  readonly version: string;
  readonly logger: Logger;
  /** One producer per metric reader (each reader has its own temporality). */
  readonly producer: (temporality: AggregationTemporality, resource: Resource) => MetricProducer;
}

/**
 * The OpenTelemetry SDK Baldur starts when the application has none. It is
 * assembled from `sdk-trace-base`, `sdk-metrics`, `resources` and the async
 * context manager instead of `@opentelemetry/sdk-node`: NodeSDK loads every
 * exporter family at startup (about 190 ms and 40 MB on this project's
 * reference machine, against a budget of 100 ms and 15 MB), while this set loads
 * in about 70 ms and the exporters load on their first export. Environment
 * variables keep their standard meaning (see `OtelEnvironment`).
 */
export class OwnedSdk {
  readonly tracerProvider: BasicTracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly resource: Resource;
  /** What was started, for the log line: `traces: otlp http/protobuf; metrics: prometheus`. */
  readonly description: string;
  /** The Prometheus scrape port, when a Prometheus reader runs. */
  readonly prometheusPort: number | undefined;
  private readonly exit = new ExitWindow();

  constructor(options: OwnedSdkOptions) {
    const { otel, logger } = options;
    const logLevel = diagLogLevelFromString(otel.logLevel);
    if (logLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), { logLevel });
    this.resource = buildResource(options);

    const processors: SpanProcessor[] = [];
    for (const name of otel.tracesExporters) {
      switch (name) {
        case 'otlp':
          processors.push(new BatchSpanProcessor(otlpSpanExporter(otel, this.exit, logger)));
          break;
        case 'zipkin':
          processors.push(new BatchSpanProcessor(zipkinSpanExporter(this.exit, logger)));
          break;
        case 'console':
          processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
          break;
        default:
          logger.warn(`unsupported OTEL_TRACES_EXPORTER value "${name}" ignored`);
      }
    }

    const readers: IMetricReader[] = [];
    let prometheusPort: number | undefined;
    for (const name of otel.metricsExporters) {
      switch (name) {
        case 'otlp': {
          const exporter = new LazyMetricExporter(otel, this.exit, logger);
          readers.push(
            new PeriodicExportingMetricReader({
              exporter,
              exportIntervalMillis: otel.metricExportIntervalMs,
              exportTimeoutMillis: otel.metricExportTimeoutMs,
              metricProducers: [
                options.producer(
                  temporalitySelector(otel.metricsTemporality)(InstrumentType.HISTOGRAM),
                  this.resource,
                ),
              ],
            }),
          );
          break;
        }
        case 'prometheus': {
          // A pull endpoint must listen from the start, so this exporter is not lazy.
          const { PrometheusExporter } = lazyRequire('@opentelemetry/exporter-prometheus') as {
            PrometheusExporter: new (
              config: { port: number; metricProducers: MetricProducer[] },
              callback: (error?: Error) => void,
            ) => IMetricReader;
          };
          prometheusPort = otel.prometheusPort;
          readers.push(
            new PrometheusExporter(
              {
                port: otel.prometheusPort,
                metricProducers: [
                  options.producer(AggregationTemporality.CUMULATIVE, this.resource),
                ],
              },
              error => {
                if (error !== undefined) {
                  logger.warn(
                    `the Prometheus endpoint could not listen on port ${otel.prometheusPort}; metrics are not served`,
                    error,
                  );
                }
              },
            ),
          );
          break;
        }
        case 'console':
          readers.push(
            new PeriodicExportingMetricReader({
              exporter: new ConsoleMetricExporter(),
              exportIntervalMillis: otel.metricExportIntervalMs,
              exportTimeoutMillis: otel.metricExportTimeoutMs,
              metricProducers: [options.producer(AggregationTemporality.CUMULATIVE, this.resource)],
            }),
          );
          break;
        default:
          logger.warn(`unsupported OTEL_METRICS_EXPORTER value "${name}" ignored`);
      }
    }
    this.prometheusPort = prometheusPort;

    if (processors.length > 0) {
      this.tracerProvider = new BasicTracerProvider({
        resource: this.resource,
        spanProcessors: processors,
      });
      // Context propagation matters only for traces; without them no async-hooks cost is paid.
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const propagator = buildPropagator(otel.propagators, logger);
      if (propagator !== undefined) propagation.setGlobalPropagator(propagator);
      trace.setGlobalTracerProvider(this.tracerProvider);
    }
    if (readers.length > 0) {
      this.meterProvider = new MeterProvider({ resource: this.resource, readers });
      metrics.setGlobalMeterProvider(this.meterProvider);
    }
    this.description = [
      `traces: ${describeList(otel.tracesExporters, otel.tracesProtocol)}`,
      `metrics: ${describeList(otel.metricsExporters, otel.metricsProtocol, prometheusPort)}`,
    ].join('; ');
  }

  /**
   * Export what is pending, within `deadlineMs`: exporters created for this
   * flush time out before the deadline and do not retry, so a missing collector
   * delays exit by the deadline at most. The SDK keeps running afterwards (an
   * application that handles SIGTERM itself may go on).
   */
  async flush(deadlineMs: number): Promise<void> {
    this.exit.open(deadlineMs);
    try {
      await Promise.all([
        this.tracerProvider?.forceFlush(),
        this.meterProvider?.forceFlush({ timeoutMillis: deadlineMs }),
      ]);
    } finally {
      this.exit.close();
    }
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.tracerProvider?.shutdown(), this.meterProvider?.shutdown()]);
  }
}

function describeList(names: readonly string[], protocol: string, port?: number): string {
  if (names.length === 0) return 'none';
  return names
    .map(name =>
      name === 'otlp'
        ? `otlp ${protocol}`
        : name === 'prometheus' && port !== undefined
          ? `prometheus :${port}`
          : name,
    )
    .join(', ');
}

const DETECTORS: Record<string, ResourceDetector> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetector,
  serviceinstance: serviceInstanceIdDetector,
};

function buildResource(options: OwnedSdkOptions): Resource {
  const names = options.otel.resourceDetectors.includes('all')
    ? Object.keys(DETECTORS)
    : options.otel.resourceDetectors.filter(name => name !== 'none');
  const detectors: ResourceDetector[] = [];
  for (const name of names) {
    const detector = DETECTORS[name];
    if (detector !== undefined) detectors.push(detector);
    else {
      options.logger.debug(
        `resource detector "${name}" is not part of Baldur's SDK; start your own SDK (BALDUR_OTEL_SDK=off) to use it`,
      );
    }
  }
  let resource = defaultResource()
    .merge(detectResources({ detectors }))
    .merge(
      resourceFromAttributes({
        'telemetry.distro.name': 'baldur',
        'telemetry.distro.version': options.version,
      }),
    );
  if (options.serviceName !== undefined) {
    resource = resource.merge(resourceFromAttributes({ 'service.name': options.serviceName }));
  }
  return resource;
}

function buildPropagator(
  names: readonly string[] | undefined,
  logger: Logger,
): TextMapPropagator | undefined {
  if (names === undefined) {
    return new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    });
  }
  const propagators: TextMapPropagator[] = [];
  for (const name of names) {
    try {
      switch (name) {
        case 'tracecontext':
          propagators.push(new W3CTraceContextPropagator());
          break;
        case 'baggage':
          propagators.push(new W3CBaggagePropagator());
          break;
        case 'b3':
        case 'b3multi': {
          const b3 = lazyRequire('@opentelemetry/propagator-b3') as {
            B3Propagator: new (config?: { injectEncoding: number }) => TextMapPropagator;
            B3InjectEncoding: { MULTI_HEADER: number; SINGLE_HEADER: number };
          };
          propagators.push(
            new b3.B3Propagator({
              injectEncoding:
                name === 'b3multi'
                  ? b3.B3InjectEncoding.MULTI_HEADER
                  : b3.B3InjectEncoding.SINGLE_HEADER,
            }),
          );
          break;
        }
        case 'jaeger': {
          const { JaegerPropagator } = lazyRequire('@opentelemetry/propagator-jaeger') as {
            JaegerPropagator: new () => TextMapPropagator;
          };
          propagators.push(new JaegerPropagator());
          break;
        }
        default:
          logger.warn(`unsupported OTEL_PROPAGATORS value "${name}" ignored`);
      }
    } catch (error) {
      logger.warn(`propagator "${name}" is not available`, error);
    }
  }
  if (propagators.length === 0) return undefined;
  return propagators.length === 1 ? propagators[0] : new CompositePropagator({ propagators });
}

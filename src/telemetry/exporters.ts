import type { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { markInternal } from '../../instrumentations/shared/internal';
import type { OtelEnvironment } from '../config/otel-env';
import type { Logger } from '../log';

const lazyRequire = createRequire(__filename);

/**
 * Set while an exit path flushes: exporters then send with a timeout that ends
 * before the exit deadline and schedule no retries, so a collector that is not
 * reachable cannot hold the process open (the OTLP exporters retry for up to
 * 10 s with timers that keep the event loop alive).
 */
export class ExitWindow {
  private deadlineMs: number | undefined;
  generation = 0;

  open(deadlineMs: number): void {
    this.deadlineMs = Date.now() + deadlineMs;
    this.generation++;
  }

  close(): void {
    this.deadlineMs = undefined;
  }

  /** Time left for an export started now, or undefined outside an exit flush. */
  remainingMs(): number | undefined {
    if (this.deadlineMs === undefined) return undefined;
    // Leave a margin for the request's own teardown before the deadline.
    return Math.max(25, this.deadlineMs - Date.now() - 50);
  }
}

/** Connection agents of the exporters are marked internal: Baldur never polices its own exports. */
function internalAgent(protocol: string): Agent {
  const module = (protocol === 'http:' ? lazyRequire('node:http') : lazyRequire('node:https')) as {
    Agent: new (options: { keepAlive: boolean }) => Agent;
  };
  return markInternal(new module.Agent({ keepAlive: true }));
}

interface OtlpExporterOptions {
  timeoutMillis?: number;
  httpAgentOptions: (protocol: string) => Agent;
}

function otlpOptions(timeoutMs: number | undefined): OtlpExporterOptions {
  return {
    ...(timeoutMs === undefined ? {} : { timeoutMillis: timeoutMs }),
    httpAgentOptions: internalAgent,
  };
}

type ExporterClass<T> = new (options: OtlpExporterOptions) => T;

/** Resolve the OTLP exporter package for a protocol; unsupported protocols fall back to http/protobuf. */
function otlpClass<T>(
  signal: 'trace' | 'metrics',
  protocol: string,
  exportName: string,
  logger: Logger,
): ExporterClass<T> {
  const packages: Record<string, string> = {
    'http/protobuf': `@opentelemetry/exporter-${signal}-otlp-proto`,
    'http/json': `@opentelemetry/exporter-${signal}-otlp-http`,
    grpc: `@opentelemetry/exporter-${signal}-otlp-grpc`,
  };
  let name = packages[protocol];
  if (name === undefined) {
    logger.once(
      `otlp-protocol:${protocol}`,
      'warn',
      `unsupported OTLP protocol "${protocol}" for ${signal === 'trace' ? 'traces' : 'metrics'}; using http/protobuf`,
    );
    name = packages['http/protobuf']!;
  }
  try {
    return (lazyRequire(name) as Record<string, ExporterClass<T>>)[exportName]!;
  } catch (error) {
    if (protocol !== 'grpc') throw error;
    logger.once(
      'otlp-protocol:grpc',
      'warn',
      `OTLP over gRPC needs ${name}, which is not installed; using http/protobuf`,
    );
    return (lazyRequire(packages['http/protobuf']!) as Record<string, ExporterClass<T>>)[
      exportName
    ]!;
  }
}

/** Log the first failure of a run of failed exports (and again after a success). */
function resultLogger(logger: Logger, what: string): (result: ExportResult) => void {
  const key = `export:${what}`;
  return result => {
    if (result.code === ExportResultCode.SUCCESS) logger.clear(key);
    else {
      logger.once(
        key,
        'warn',
        `exporting ${what} failed; further failures are not logged until one succeeds`,
        result.error,
      );
    }
  };
}

/**
 * Export through an exporter that is loaded on first use: a failure to load it
 * is an export result like any other (logged, and handed to the SDK).
 */
function exportThrough<T>(
  current: () => { export(items: T, done: (result: ExportResult) => void): void },
  items: T,
  onResult: (result: ExportResult) => void,
  resultCallback: (result: ExportResult) => void,
): void {
  const done = (result: ExportResult): void => {
    onResult(result);
    resultCallback(result);
  };
  let exporter: ReturnType<typeof current>;
  try {
    exporter = current();
  } catch (error) {
    done({ code: ExportResultCode.FAILED, error: error as Error });
    return;
  }
  exporter.export(items, done);
}

/**
 * A span exporter whose package is loaded on the first export, not at startup:
 * an OTLP exporter family costs ~50–100 ms to load on this project's reference
 * machine, more than the whole startup budget leaves for it.
 */
export class LazySpanExporter implements SpanExporter {
  private delegate: SpanExporter | undefined;
  private exitDelegate: { generation: number; exporter: SpanExporter } | undefined;
  private readonly onResult: (result: ExportResult) => void;

  private make: ((timeoutMs: number | undefined) => SpanExporter) | undefined;

  /** `load` requires the exporter package and returns how to build one (with a timeout, or the configured one). */
  constructor(
    private readonly load: () => (timeoutMs: number | undefined) => SpanExporter,
    private readonly exit: ExitWindow,
    logger: Logger,
    what: string,
  ) {
    this.onResult = resultLogger(logger, what);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    exportThrough(() => this.current(), spans, this.onResult, resultCallback);
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.delegate?.shutdown(), this.exitDelegate?.exporter.shutdown()]);
  }

  async forceFlush(): Promise<void> {
    await this.delegate?.forceFlush?.();
  }

  private current(): SpanExporter {
    const make = (this.make ??= this.load());
    // After loading the package: the time that took is no longer left before the exit deadline.
    const remainingMs = this.exit.remainingMs();
    if (remainingMs === undefined) return (this.delegate ??= make(undefined));
    if (this.exitDelegate?.generation !== this.exit.generation) {
      this.exitDelegate = { generation: this.exit.generation, exporter: make(remainingMs) };
    }
    return this.exitDelegate.exporter;
  }
}

export function otlpSpanExporter(
  otel: OtelEnvironment,
  exit: ExitWindow,
  logger: Logger,
): LazySpanExporter {
  return new LazySpanExporter(
    () => {
      const Exporter = otlpClass<SpanExporter>(
        'trace',
        otel.tracesProtocol,
        'OTLPTraceExporter',
        logger,
      );
      return timeoutMs => new Exporter(otlpOptions(timeoutMs));
    },
    exit,
    logger,
    'traces (OTLP)',
  );
}

export function zipkinSpanExporter(exit: ExitWindow, logger: Logger): LazySpanExporter {
  return new LazySpanExporter(
    () => {
      const { ZipkinExporter } = lazyRequire('@opentelemetry/exporter-zipkin') as {
        ZipkinExporter: new (config: { timeoutMillis?: number }) => SpanExporter;
      };
      return timeoutMs =>
        new ZipkinExporter(timeoutMs === undefined ? {} : { timeoutMillis: timeoutMs });
    },
    exit,
    logger,
    'traces (Zipkin)',
  );
}

/** Aggregation temporality per instrument kind, as the OTLP exporters choose it from the environment. */
export function temporalitySelector(
  preference: OtelEnvironment['metricsTemporality'],
): (type: InstrumentType) => AggregationTemporality {
  return type => {
    if (preference === 'cumulative') return AggregationTemporality.CUMULATIVE;
    switch (type) {
      case InstrumentType.COUNTER:
      case InstrumentType.HISTOGRAM:
        return AggregationTemporality.DELTA;
      case InstrumentType.OBSERVABLE_COUNTER:
      case InstrumentType.GAUGE:
      case InstrumentType.OBSERVABLE_GAUGE:
        return preference === 'delta'
          ? AggregationTemporality.DELTA
          : AggregationTemporality.CUMULATIVE;
      case InstrumentType.UP_DOWN_COUNTER:
      case InstrumentType.OBSERVABLE_UP_DOWN_COUNTER:
        return AggregationTemporality.CUMULATIVE;
    }
  };
}

/** The metric counterpart of `LazySpanExporter`; temporality is known without loading the package. */
export class LazyMetricExporter implements PushMetricExporter {
  private exporterClass: ExporterClass<PushMetricExporter> | undefined;
  private delegate: PushMetricExporter | undefined;
  private exitDelegate: { generation: number; exporter: PushMetricExporter } | undefined;
  private readonly onResult: (result: ExportResult) => void;
  readonly selectAggregationTemporality: (type: InstrumentType) => AggregationTemporality;

  constructor(
    private readonly otel: OtelEnvironment,
    private readonly exit: ExitWindow,
    private readonly logger: Logger,
  ) {
    this.onResult = resultLogger(logger, 'metrics (OTLP)');
    this.selectAggregationTemporality = temporalitySelector(otel.metricsTemporality);
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    exportThrough(() => this.current(), metrics, this.onResult, resultCallback);
  }

  async forceFlush(): Promise<void> {
    await this.delegate?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.delegate?.shutdown(), this.exitDelegate?.exporter.shutdown()]);
  }

  private current(): PushMetricExporter {
    const Exporter = (this.exporterClass ??= otlpClass<PushMetricExporter>(
      'metrics',
      this.otel.metricsProtocol,
      'OTLPMetricExporter',
      this.logger,
    ));
    // After loading the package: the time that took is no longer left before the exit deadline.
    // The reader asks this wrapper for temporalities; the exporter only serializes what it gets.
    const remainingMs = this.exit.remainingMs();
    if (remainingMs === undefined) return (this.delegate ??= new Exporter(otlpOptions(undefined)));
    if (this.exitDelegate?.generation !== this.exit.generation) {
      this.exitDelegate = {
        generation: this.exit.generation,
        exporter: new Exporter(otlpOptions(remainingMs)),
      };
    }
    return this.exitDelegate.exporter;
  }
}

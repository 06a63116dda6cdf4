import type { Environment } from './env';

/**
 * The standard `OTEL_*` variables that decide what the SDK Baldur starts
 * exports, parsed the way `@opentelemetry/sdk-node` parses them. Everything
 * else (endpoints, headers, timeouts, compression, sampler, span limits, batch
 * processor, Prometheus host and port) is read by the OpenTelemetry package
 * that uses it, exactly as in any OpenTelemetry SDK.
 */
export interface OtelEnvironment {
  /** `OTEL_SDK_DISABLED=true`: start no SDK (report through one the app registers, if any). */
  readonly sdkDisabled: boolean;
  /** `OTEL_TRACES_EXPORTER`, deduplicated; empty = `none`. Default `otlp`. */
  readonly tracesExporters: readonly string[];
  /** `OTEL_METRICS_EXPORTER`, deduplicated; empty = `none`. Default `otlp`. */
  readonly metricsExporters: readonly string[];
  /** `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`. */
  readonly tracesProtocol: string;
  /** `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`. */
  readonly metricsProtocol: string;
  /** `OTEL_METRIC_EXPORT_INTERVAL` (default 60000). */
  readonly metricExportIntervalMs: number;
  /** `OTEL_METRIC_EXPORT_TIMEOUT` (default 30000), clamped to the interval. */
  readonly metricExportTimeoutMs: number;
  /** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (default `cumulative`). */
  readonly metricsTemporality: 'cumulative' | 'delta' | 'lowmemory';
  /** `OTEL_PROPAGATORS`; undefined = the default `tracecontext,baggage`; empty = none. */
  readonly propagators: readonly string[] | undefined;
  /** `OTEL_NODE_RESOURCE_DETECTORS` (default `env,process,host`, as NodeSDK). */
  readonly resourceDetectors: readonly string[];
  /** `OTEL_EXPORTER_PROMETHEUS_PORT` (default 9464). */
  readonly prometheusPort: number;
  /** `OTEL_LOG_LEVEL`, lower-cased, if set. */
  readonly logLevel: string | undefined;
  /** Values that were ignored, one line each. */
  readonly warnings: readonly string[];
}

const DEFAULT_METRIC_INTERVAL_MS = 60_000;
const DEFAULT_METRIC_TIMEOUT_MS = 30_000;

function text(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function list(env: Environment, name: string): string[] | undefined {
  const value = text(env, name);
  if (value === undefined) return undefined;
  return [
    ...new Set(
      value
        .split(',')
        .map(item => item.trim().toLowerCase())
        .filter(item => item !== '' && item !== 'null'),
    ),
  ];
}

function positiveNumber(env: Environment, name: string, warnings: string[]): number | undefined {
  const value = text(env, name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    warnings.push(`${name}=${value} is not a positive number; using the default`);
    return undefined;
  }
  return number;
}

export function readOtelEnvironment(env: Environment = process.env): OtelEnvironment {
  const warnings: string[] = [];

  let traces = list(env, 'OTEL_TRACES_EXPORTER') ?? [];
  if (traces.length === 0) traces = ['otlp'];
  else if (traces[0] === 'none') traces = [];
  else if (traces.includes('none')) {
    warnings.push('OTEL_TRACES_EXPORTER mixes "none" with exporters; using "otlp"');
    traces = ['otlp'];
  }

  let metricsList = list(env, 'OTEL_METRICS_EXPORTER') ?? [];
  if (metricsList.length === 0) metricsList = ['otlp'];
  else if (metricsList.includes('none')) metricsList = [];

  const protocol = text(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  const intervalMs =
    positiveNumber(env, 'OTEL_METRIC_EXPORT_INTERVAL', warnings) ?? DEFAULT_METRIC_INTERVAL_MS;
  const timeoutMs = Math.min(
    positiveNumber(env, 'OTEL_METRIC_EXPORT_TIMEOUT', warnings) ?? DEFAULT_METRIC_TIMEOUT_MS,
    intervalMs,
  );

  const temporalityText = text(
    env,
    'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
  )?.toLowerCase();
  let temporality: OtelEnvironment['metricsTemporality'] = 'cumulative';
  if (temporalityText === 'delta' || temporalityText === 'lowmemory') temporality = temporalityText;
  else if (temporalityText !== undefined && temporalityText !== 'cumulative') {
    warnings.push(
      `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${temporalityText} is not cumulative, delta or lowmemory; using cumulative`,
    );
  }

  const propagators = list(env, 'OTEL_PROPAGATORS');
  return {
    sdkDisabled: text(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true',
    tracesExporters: traces,
    metricsExporters: metricsList,
    tracesProtocol: text(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? protocol ?? 'http/protobuf',
    metricsProtocol:
      text(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ?? protocol ?? 'http/protobuf',
    metricExportIntervalMs: intervalMs,
    metricExportTimeoutMs: timeoutMs,
    metricsTemporality: temporality,
    propagators: propagators?.includes('none') === true ? [] : propagators,
    resourceDetectors: list(env, 'OTEL_NODE_RESOURCE_DETECTORS') ?? ['env', 'process', 'host'],
    prometheusPort: positiveNumber(env, 'OTEL_EXPORTER_PROMETHEUS_PORT', warnings) ?? 9464,
    logLevel: text(env, 'OTEL_LOG_LEVEL')?.toLowerCase(),
    warnings,
  };
}

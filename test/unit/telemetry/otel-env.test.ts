import { describe, expect, it } from 'vitest';
import { readOtelEnvironment } from '../../../src/config/otel-env';

describe('OTEL_* environment, as the SDK Baldur starts reads it', () => {
  it('defaults to OTLP over http/protobuf for traces and metrics', () => {
    const otel = readOtelEnvironment({});
    expect(otel).toMatchObject({
      sdkDisabled: false,
      tracesExporters: ['otlp'],
      metricsExporters: ['otlp'],
      tracesProtocol: 'http/protobuf',
      metricsProtocol: 'http/protobuf',
      metricExportIntervalMs: 60_000,
      metricExportTimeoutMs: 30_000,
      metricsTemporality: 'cumulative',
      propagators: undefined,
      resourceDetectors: ['env', 'process', 'host'],
      prometheusPort: 9464,
      warnings: [],
    });
  });

  it('reads exporters, protocols and intervals like sdk-node', () => {
    const otel = readOtelEnvironment({
      OTEL_SDK_DISABLED: 'TRUE',
      OTEL_TRACES_EXPORTER: ' otlp , console,otlp',
      OTEL_METRICS_EXPORTER: 'prometheus,otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_METRIC_EXPORT_TIMEOUT: '5000',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta',
      OTEL_PROPAGATORS: 'tracecontext,b3',
      OTEL_EXPORTER_PROMETHEUS_PORT: '9999',
      OTEL_LOG_LEVEL: 'DEBUG',
    });
    expect(otel).toMatchObject({
      sdkDisabled: true,
      tracesExporters: ['otlp', 'console'],
      metricsExporters: ['prometheus', 'otlp'],
      tracesProtocol: 'http/json',
      metricsProtocol: 'http/protobuf',
      metricExportIntervalMs: 1000,
      // Clamped to the interval.
      metricExportTimeoutMs: 1000,
      metricsTemporality: 'delta',
      propagators: ['tracecontext', 'b3'],
      prometheusPort: 9999,
      logLevel: 'debug',
    });
  });

  it('"none" switches a signal off; mixed with exporters it is ignored for traces, as in sdk-node', () => {
    expect(readOtelEnvironment({ OTEL_TRACES_EXPORTER: 'none' }).tracesExporters).toEqual([]);
    expect(readOtelEnvironment({ OTEL_METRICS_EXPORTER: 'otlp,none' }).metricsExporters).toEqual(
      [],
    );
    const mixed = readOtelEnvironment({ OTEL_TRACES_EXPORTER: 'console,none' });
    expect(mixed.tracesExporters).toEqual(['otlp']);
    expect(mixed.warnings).toHaveLength(1);
    expect(readOtelEnvironment({ OTEL_PROPAGATORS: 'none' }).propagators).toEqual([]);
  });

  it('ignores bad numbers and temporalities with a warning', () => {
    const otel = readOtelEnvironment({
      OTEL_METRIC_EXPORT_INTERVAL: '-5',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes',
    });
    expect(otel.metricExportIntervalMs).toBe(60_000);
    expect(otel.metricsTemporality).toBe('cumulative');
    expect(otel.warnings).toHaveLength(2);
  });
});

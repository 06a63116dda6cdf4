/**
 * Prometheus names of the metric catalog (METRICS), as the shipped dashboards
 * and alert rules use them. Two exporters name the same OpenTelemetry metric
 * differently:
 *
 * - `agent`: the agent's own endpoint (`OTEL_METRICS_EXPORTER=prometheus`,
 *   the OpenTelemetry JS Prometheus exporter) replaces `.` with `_` and
 *   appends `_total` to counters, but adds no unit suffix:
 *   `baldur.call.duration` -> `baldur_call_duration_bucket`. The dashboards
 *   and alert rules in `dashboards/` use these names.
 * - `collector`: an OpenTelemetry Collector's `prometheus` or
 *   `prometheusremotewrite` exporter (default `add_metric_suffixes: true`)
 *   and Prometheus' own OTLP receiver also append the unit:
 *   `baldur_call_duration_seconds_bucket` (see dashboards/README.md).
 *
 * Labels are the same under both: attribute keys with `.` replaced by `_`.
 */
import { METRIC_LIST, type MetricDefinition } from './metrics';

export type PrometheusNaming = 'agent' | 'collector';

/** UCUM units the Collector's translator spells out as a name suffix. */
const UNIT_SUFFIXES: Readonly<Record<string, string>> = {
  s: 'seconds',
  ms: 'milliseconds',
  By: 'bytes',
};

/** Labels every series carries besides its attributes (scrape target and OpenTelemetry scope). */
export const PROMETHEUS_STANDARD_LABELS = [
  'job',
  'instance',
  'otel_scope_name',
  'otel_scope_version',
] as const;

/** The Prometheus label of an attribute key. */
export function prometheusLabel(attribute: string): string {
  return attribute.replace(/[^a-zA-Z0-9_]/g, '_');
}

function unitSuffix(metric: MetricDefinition): string {
  // `{call}`-style annotations and the dimensionless `1` of a non-gauge add nothing.
  if (metric.unit === '1' || /^\{.*\}$/.test(metric.unit)) return '';
  const suffix = UNIT_SUFFIXES[metric.unit];
  if (suffix === undefined) {
    throw new Error(`no Prometheus unit suffix known for unit "${metric.unit}" of ${metric.name}`);
  }
  return `_${suffix}`;
}

/** The metric family name (`# TYPE` line): `baldur_calls_total`, `baldur_call_duration`. */
export function prometheusFamily(metric: MetricDefinition, naming: PrometheusNaming): string {
  const base = prometheusLabel(metric.name) + (naming === 'collector' ? unitSuffix(metric) : '');
  return metric.kind === 'counter' ? `${base}_total` : base;
}

/** The series names a query can select: the family, or a histogram's `_bucket`, `_sum`, `_count`. */
export function prometheusSeries(
  metric: MetricDefinition,
  naming: PrometheusNaming,
): readonly string[] {
  const family = prometheusFamily(metric, naming);
  return metric.kind === 'histogram'
    ? [`${family}_bucket`, `${family}_sum`, `${family}_count`]
    : [family];
}

export interface PrometheusSeriesInfo {
  readonly metric: MetricDefinition;
  /** Labels a query may use on this series (attributes, standard labels, `le` on buckets). */
  readonly labels: ReadonlySet<string>;
}

/** Every selectable series name of the catalog under one naming, with its labels. */
export function prometheusCatalog(
  naming: PrometheusNaming,
  metrics: readonly MetricDefinition[] = METRIC_LIST,
): ReadonlyMap<string, PrometheusSeriesInfo> {
  const catalog = new Map<string, PrometheusSeriesInfo>();
  for (const metric of metrics) {
    for (const series of prometheusSeries(metric, naming)) {
      const labels = new Set<string>([
        ...metric.attributes.map(prometheusLabel),
        ...PROMETHEUS_STANDARD_LABELS,
      ]);
      if (series.endsWith('_bucket') && metric.kind === 'histogram') labels.add('le');
      catalog.set(series, { metric, labels });
    }
  }
  return catalog;
}

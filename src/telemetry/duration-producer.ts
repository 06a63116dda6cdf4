import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { DURATION_BUCKETS_S, type DurationHistogram } from '../core/pipeline/duration-histogram';
import type { Pipeline } from '../core/pipeline/pipeline';
import { ATTR } from '../names/attributes';
import { METRICS, type MetricDefinition } from '../names/metrics';
import { storeOperationAttributes, type ObservedStore } from './store-metrics';

interface Previous {
  readonly counts: Float64Array;
  readonly count: number;
  readonly sumS: number;
  readonly atTime: HrTime;
}

/**
 * The duration histograms for the SDK Baldur owns — `baldur.call.duration` and
 * `baldur.store.operation.duration` — without any SDK work per call: pipelines
 * and the store fill fixed-bucket histograms in process (an array increment),
 * and this producer hands them to a metric reader at collection time, as
 * cumulative or delta data points (one producer per reader). Used only when
 * Baldur started the SDK — a producer cannot be added to the readers of an SDK
 * the application built; see `durationHistogramSink` and `attachStoreRecorder`
 * for that case. Cumulative points start when the producer was created.
 */
export class DurationProducer implements MetricProducer {
  private readonly previous = new WeakMap<DurationHistogram, Previous>();
  private readonly boundaries = [...DURATION_BUCKETS_S];

  constructor(
    private readonly pipelines: () => readonly Pipeline[],
    private readonly temporality: AggregationTemporality,
    private readonly resource: Resource,
    private readonly scope: { readonly name: string; readonly version: string },
    private readonly startTime: HrTime = hrTime(),
    private readonly store: () => ObservedStore | undefined = () => undefined,
  ) {}

  collect(): Promise<CollectionResult> {
    const now = hrTime();
    const calls: DataPoint<Histogram>[] = [];
    for (const pipeline of this.pipelines()) {
      for (const [outcome, histogram] of pipeline.stats.durations) {
        const attributes = { [ATTR.DEPENDENCY]: pipeline.name, [ATTR.OUTCOME]: outcome };
        const point = this.point(attributes, histogram, this.startTime, now);
        if (point !== undefined) calls.push(point);
      }
    }
    const store = this.store();
    const storeOperations: DataPoint<Histogram>[] = [];
    for (const stat of store?.operationStats() ?? []) {
      const attributes = storeOperationAttributes(store!.kind, stat.operation, stat.outcome);
      const point = this.point(attributes, stat.histogram, this.startTime, now);
      if (point !== undefined) storeOperations.push(point);
    }
    const metrics = [
      ...(calls.length === 0 ? [] : [this.metric(METRICS.CALL_DURATION, calls)]),
      ...(storeOperations.length === 0
        ? []
        : [this.metric(METRICS.STORE_OPERATION_DURATION, storeOperations)]),
    ];
    return Promise.resolve({
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: metrics.length === 0 ? [] : [{ scope: this.scope, metrics }],
      },
      errors: [],
    });
  }

  private metric(definition: MetricDefinition, dataPoints: DataPoint<Histogram>[]) {
    return {
      descriptor: {
        name: definition.name,
        description: definition.description,
        unit: definition.unit,
        valueType: ValueType.DOUBLE,
      },
      aggregationTemporality: this.temporality,
      dataPointType: DataPointType.HISTOGRAM as const,
      dataPoints,
    };
  }

  private point(
    attributes: Attributes,
    histogram: DurationHistogram,
    startTime: HrTime,
    now: HrTime,
  ): DataPoint<Histogram> | undefined {
    if (this.temporality === AggregationTemporality.CUMULATIVE) {
      return {
        attributes,
        startTime,
        endTime: now,
        value: {
          buckets: { boundaries: this.boundaries, counts: Array.from(histogram.counts) },
          count: histogram.count,
          sum: histogram.sumS,
          ...(histogram.count > 0 ? { min: histogram.minS, max: histogram.maxS } : {}),
        },
      };
    }
    const previous = this.previous.get(histogram);
    this.previous.set(histogram, {
      counts: Float64Array.from(histogram.counts),
      count: histogram.count,
      sumS: histogram.sumS,
      atTime: now,
    });
    const count = histogram.count - (previous?.count ?? 0);
    if (count === 0 && previous !== undefined) return undefined;
    return {
      attributes,
      startTime: previous?.atTime ?? startTime,
      endTime: now,
      value: {
        buckets: {
          boundaries: this.boundaries,
          counts: Array.from(histogram.counts, (n, i) => n - (previous?.counts[i] ?? 0)),
        },
        count,
        sum: histogram.sumS - (previous?.sumS ?? 0),
      },
    };
  }
}

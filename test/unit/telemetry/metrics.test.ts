import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { baldurGlobal } from '../../../src/api/global-state';
import { createLogger } from '../../../src/log';
import { protect, breakers } from '../../../src/index';
import { DurationProducer } from '../../../src/telemetry/duration-producer';
import { temporalitySelector } from '../../../src/telemetry/exporters';
import { durationHistogramSink, registerMetrics } from '../../../src/telemetry/metrics';
import { TransitionLog } from '../../../src/telemetry/transitions';
import { isolateGlobalState, unique } from '../api/helpers';

/** A reader collected by hand (real SDK aggregation, no exporter). */
class TestReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

async function collect(reader: MetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  }
  return byName;
}

function points(metric: MetricData | undefined): { attributes: object; value: unknown }[] {
  return (metric?.dataPoints ?? []).map(p => ({ attributes: p.attributes, value: p.value }));
}

describe("Baldur's metrics on a real MeterProvider", () => {
  isolateGlobalState();
  const logs: string[] = [];
  let transitions: TransitionLog | undefined;

  afterEach(() => {
    transitions?.dispose();
    transitions = undefined;
    logs.length = 0;
    baldurGlobal().telemetry.measureDurations = false;
  });

  function setUp(temporality = AggregationTemporality.CUMULATIVE) {
    const state = baldurGlobal();
    state.telemetry.measureDurations = true;
    transitions = new TransitionLog(
      state.bus,
      createLogger('info', line => logs.push(line)),
    );
    const log = transitions;
    const pipelines = () => state.engine?.list() ?? [];
    const reader = new TestReader({
      aggregationTemporalitySelector: temporalitySelector(
        temporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative',
      ),
      metricProducers: [
        new DurationProducer(pipelines, temporality, emptyResource(), {
          name: 'baldur',
          version: 'test',
        }),
      ],
    });
    const provider = new MeterProvider({ readers: [reader] });
    registerMetrics(provider.getMeter('baldur'), {
      pipelines,
      transitions: () => log.totals(),
      deadLetters: () => state.engine?.deadLetters,
      deadLetterChanges: () => 0,
      maxDeadLetters: 100,
      reportError: (what, error) => {
        throw new Error(`${what}: ${String(error)}`);
      },
    });
    return reader;
  }

  it('reads the engine totals at collection time, with the catalog names and units', async () => {
    const reader = setUp();
    const name = unique('metrics');
    let calls = 0;
    const flaky = protect(
      name,
      // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
      async () => {
        calls++;
        if (calls === 1 || calls >= 4) throw new Error('down');
        return 'ok';
      },
      {
        retry: { maxAttempts: 2, baseDelay: 1, jitter: 0, budget: false },
        circuitBreaker: { failureThreshold: 2, recoveryTimeout: '1h' },
        bulkhead: { maxConcurrent: 5, maxQueue: 5 },
        rateLimit: { limit: 1000 },
      },
    );
    await expect(flaky()).resolves.toBe('ok'); // retried once
    await expect(flaky()).resolves.toBe('ok');
    await expect(flaky()).rejects.toThrow('down'); // two failures: the breaker opens
    await expect(flaky()).rejects.toMatchObject({ code: 'BALDUR_CIRCUIT_OPEN' });

    const metrics = await collect(reader);
    const dependency = { 'baldur.dependency': name };
    expect(metrics.get('baldur.calls')?.descriptor).toMatchObject({ unit: '{call}' });
    expect(points(metrics.get('baldur.calls'))).toEqual(
      expect.arrayContaining([
        {
          attributes: { ...dependency, 'baldur.outcome': 'success', 'baldur.policy': 'retry' },
          value: 1,
        },
        {
          attributes: { ...dependency, 'baldur.outcome': 'success', 'baldur.policy': 'none' },
          value: 1,
        },
        {
          attributes: { ...dependency, 'baldur.outcome': 'failure', 'baldur.policy': 'retry' },
          value: 1,
        },
        {
          attributes: {
            ...dependency,
            'baldur.outcome': 'rejected',
            'baldur.policy': 'circuit_breaker',
          },
          value: 1,
        },
      ]),
    );
    const state = points(metrics.get('baldur.circuit_breaker.state'));
    expect(state).toHaveLength(6);
    expect(state.filter(p => p.value === 1)).toEqual([
      { attributes: { ...dependency, 'baldur.circuit_breaker.state': 'open' }, value: 1 },
    ]);
    // The transition that happened is counted; the breaker's other automatic transitions
    // start at 0, so their first occurrence shows up as an increase in Prometheus.
    const transitions = points(metrics.get('baldur.circuit_breaker.transitions'));
    expect(transitions.filter(p => p.value !== 0)).toEqual([
      { attributes: { ...dependency, 'baldur.from': 'closed', 'baldur.to': 'open' }, value: 1 },
    ]);
    expect(
      transitions
        .filter(p => p.value === 0)
        .map(p => {
          const attributes = p.attributes as Record<string, unknown>;
          return [attributes['baldur.from'], attributes['baldur.to']];
        }),
    ).toEqual([
      ['open', 'half_open'],
      ['half_open', 'closed'],
      ['half_open', 'open'],
    ]);
    expect(points(metrics.get('baldur.retry.attempts'))).toEqual(
      expect.arrayContaining([
        { attributes: { ...dependency, 'baldur.retry.result': 'scheduled' }, value: 2 },
        { attributes: { ...dependency, 'baldur.retry.result': 'exhausted' }, value: 1 },
      ]),
    );
    expect(points(metrics.get('baldur.rate_limit.decisions'))).toContainEqual({
      attributes: { ...dependency, 'baldur.rate_limit.result': 'allowed' },
      value: 4,
    });
    expect(points(metrics.get('baldur.bulkhead.active'))).toEqual([
      { attributes: dependency, value: 0 },
    ]);
    expect(points(metrics.get('baldur.bulkhead.queued'))).toEqual([
      { attributes: dependency, value: 0 },
    ]);

    const duration = metrics.get('baldur.call.duration')!;
    expect(duration).toMatchObject({
      dataPointType: DataPointType.HISTOGRAM,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      descriptor: { unit: 's' },
    });
    const success = (duration.dataPoints as DataPoint<Histogram>[]).find(
      p => p.attributes['baldur.outcome'] === 'success',
    )!;
    expect(success.value.count).toBe(2);
    expect(success.value.buckets.counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(success.value.buckets.boundaries).toHaveLength(success.value.buckets.counts.length - 1);
    expect(logs).toEqual([
      expect.stringMatching(
        new RegExp(`^\\[baldur\\] info: circuit breaker ${name}: closed -> open \\(`),
      ),
    ]);
  });

  it('follows forced states, and reports delta histograms when the exporter asks for them', async () => {
    const reader = setUp(AggregationTemporality.DELTA);
    const name = unique('delta');
    // eslint-disable-next-line @typescript-eslint/require-await -- a protected async function
    const ok = protect(name, async () => 'ok');
    await ok();
    await ok();
    const histogramCount = async () => {
      const duration = (await collect(reader)).get('baldur.call.duration');
      return (duration?.dataPoints as DataPoint<Histogram>[] | undefined)?.[0]?.value.count;
    };
    expect(await histogramCount()).toBe(2);
    await ok();
    expect(await histogramCount()).toBe(1);
    // Nothing new since the last collection: no point at all.
    expect(await histogramCount()).toBeUndefined();
    expect(breakers.forceOpen(name, 60_000)).toBe(true);
    const state = points((await collect(reader)).get('baldur.circuit_breaker.state'));
    expect(state.find(p => p.value === 1)?.attributes).toMatchObject({
      'baldur.circuit_breaker.state': 'forced_open',
    });
  });

  it('records durations per call through an SDK Baldur does not own', async () => {
    const reader = new TestReader();
    const meter = new MeterProvider({ readers: [reader] }).getMeter('baldur');
    const sink = durationHistogramSink(meter);
    sink('dep', 'success', 20);
    sink('dep', 'success', 2_000);
    sink('dep', 'timeout', 300);
    const duration = (await collect(reader)).get('baldur.call.duration')!;
    expect(duration.descriptor.unit).toBe('s');
    const byOutcome = Object.fromEntries(
      (duration.dataPoints as DataPoint<Histogram>[]).map(p => [
        p.attributes['baldur.outcome'],
        p.value,
      ]),
    );
    expect(byOutcome.success).toMatchObject({ count: 2, sum: 2.02, min: 0.02, max: 2 });
    expect(byOutcome.timeout).toMatchObject({ count: 1 });
    // The engine's bucket bounds are passed as advice, so both paths bucket alike.
    expect(byOutcome.success!.buckets.boundaries).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
  });

  it('picks temporalities as the OTLP exporters do', () => {
    const cumulative = temporalitySelector('cumulative');
    const delta = temporalitySelector('delta');
    const lowMemory = temporalitySelector('lowmemory');
    expect(cumulative(InstrumentType.HISTOGRAM)).toBe(AggregationTemporality.CUMULATIVE);
    expect(delta(InstrumentType.OBSERVABLE_COUNTER)).toBe(AggregationTemporality.DELTA);
    expect(delta(InstrumentType.OBSERVABLE_UP_DOWN_COUNTER)).toBe(
      AggregationTemporality.CUMULATIVE,
    );
    expect(lowMemory(InstrumentType.HISTOGRAM)).toBe(AggregationTemporality.DELTA);
    expect(lowMemory(InstrumentType.OBSERVABLE_COUNTER)).toBe(AggregationTemporality.CUMULATIVE);
  });
});

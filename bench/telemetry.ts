/**
 * What telemetry costs per call, all variants in one process, in shuffled
 * rounds (overheads are medians of per-round differences from the baseline
 * `await fn()` measured in the same round):
 *
 * - `metrics`: the four-policy pipeline (breaker, retry, bulkhead, timeout)
 *   around a trivial async call, without metrics, with Baldur's metrics on a
 *   real MeterProvider (observable instruments over the engine's totals, the
 *   duration histogram through a metric producer), and against recording per
 *   call through the SDK: a plain `counter.add`, a `histogram.record`, and the
 *   duration histogram Baldur records per call when it reports through an SDK
 *   the application owns. Also the cost of one collection.
 * - `tracing`: a failing path (every call fails once and succeeds on its
 *   retry), without a span, with Baldur's `baldur` span on a real
 *   TracerProvider (batch processor, no-op exporter), and with the async
 *   context manager registered as well (what tracing costs every promise).
 *
 * Each variant runs in its own fresh processes next to the baseline (`isolated`),
 * so no variant runs on code the JIT shaped for another. Run through
 * `npm run bench -- telemetry`, or alone:
 * `node --expose-gc build/bench/telemetry.js metrics 15 isolated 5`.
 */
import { execFileSync } from 'node:child_process';
import { context, ValueType, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { baldurGlobal } from '../src/api/global-state';
import { loadConfig } from '../src/config/load';
import type { Disposable } from '../src/core/events';
import { newDurationSlot, type DurationSinkSlot } from '../src/core/pipeline/stats';
import { Engine } from '../src/engine/engine';
import { protect } from '../src/index';
import { DurationProducer } from '../src/telemetry/duration-producer';
import { durationHistogramSink, registerMetrics } from '../src/telemetry/metrics';
import { CallSpans } from '../src/telemetry/spans';
import { median, shuffle } from './lib/stats';
import { compileLoop, timePerCall, trivialCall, type Op } from './lib/loop';

export interface TelemetryVariant {
  readonly name: string;
  readonly nsPerOp: number;
  readonly addedNs: number;
  readonly ratio: number;
}

export interface TelemetryResult {
  readonly rounds: number;
  /** Fresh processes per variant (isolated runs). */
  readonly processes?: number;
  readonly variants: TelemetryVariant[];
  /** Microseconds per collection of Baldur's metrics (one pipeline / `pipelines` pipelines). */
  readonly collectUs?: { one: number; many: number; pipelines: number };
}

/**
 * No `gc()` before each sample: a forced full collection ages and flushes
 * compiled code, and a pipeline (much more code than the baseline) then runs
 * partly unoptimized in every sample — measured here, that alone made the
 * four-policy pipeline look 4× slower (about 0.9 µs instead of 0.22 µs).
 * Collections happen during the samples instead; medians absorb them.
 */
/**
 * Each variant runs against its own engine: `before` installs it as the
 * process's engine (what protect() uses) right before the variant's sample.
 */
interface Variant {
  readonly op: Op;
  readonly before?: () => void;
}

async function runVariants(
  variants: Record<string, Variant>,
  rounds: number,
  sampleMs = 25,
): Promise<TelemetryVariant[]> {
  const keepAlive = [setInterval(() => {}, 3_000), setInterval(() => {}, 10_000)];
  keepAlive.forEach(t => t.unref());
  const names = Object.keys(variants);
  const loops = new Map(names.map(name => [name, compileLoop()]));
  const iterations = new Map<string, number>();
  for (const name of names) {
    const variant = variants[name]!;
    variant.before?.();
    await loops.get(name)!(variant.op, 20_000);
    const ns = await timePerCall(loops.get(name)!, variant.op, 20_000);
    iterations.set(name, Math.max(200, Math.round((sampleMs * 1e6) / ns)));
  }
  const perRound: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const added: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const ratios: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const measured: Record<string, number> = {};
    for (const name of shuffle(names)) {
      const variant = variants[name]!;
      variant.before?.();
      measured[name] = await timePerCall(loops.get(name)!, variant.op, iterations.get(name)!);
    }
    for (const name of names) {
      perRound[name]!.push(measured[name]!);
      added[name]!.push(measured[name]! - measured.baseline!);
      ratios[name]!.push(measured[name]! / measured.baseline!);
    }
  }
  keepAlive.forEach(t => clearInterval(t));
  return names.map(name => ({
    name,
    nsPerOp: median(perRound[name]!),
    addedNs: median(added[name]!),
    ratio: median(ratios[name]!),
  }));
}

class NoopSpanExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A reader the bench collects from by hand (a periodic reader would also fire on its own). */
class ManualReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

function engine(measureDurations: boolean, durationSink?: DurationSinkSlot): Engine {
  return new Engine({
    config: loadConfig({ files: false }).config,
    bus: baldurGlobal().bus,
    measureDurations,
    ...(durationSink === undefined ? {} : { durationSink }),
  });
}

const POLICIES = {
  retry: { maxAttempts: 3 },
  bulkhead: { maxConcurrent: 100, maxQueue: 1_000 },
  timeout: '10s',
} as const;

const fn = trivialCall;

/** Run `baseline` and `only` (all variants when undefined; none, just the collection, for `collect`). */
function pick(
  variants: Record<string, Variant>,
  only: string | undefined,
): Record<string, Variant> {
  if (only === undefined) return variants;
  if (only === 'collect') return { baseline: variants.baseline! };
  const variant = variants[only];
  if (variant === undefined) throw new Error(`no variant "${only}"`);
  return { baseline: variants.baseline!, [only]: variant };
}

export async function runMetrics(rounds = 15, only?: string): Promise<TelemetryResult> {
  const state = baldurGlobal();
  const plain = engine(false);
  const measured = engine(true);
  const sinkSlot: DurationSinkSlot = newDurationSlot();
  const attached = engine(true, sinkSlot);

  // Baldur's own SDK: observable instruments + a metric producer for durations.
  const reader = new ManualReader({
    metricProducers: [
      new DurationProducer(
        () => measured.list(),
        AggregationTemporality.CUMULATIVE,
        emptyResource(),
        { name: 'baldur', version: 'bench' },
      ),
    ],
  });
  const provider = new MeterProvider({ readers: [reader] });
  registerMetrics(provider.getMeter('baldur'), {
    pipelines: () => measured.list(),
    transitions: () => [],
    deadLetters: () => undefined,
    deadLetterChanges: () => 0,
    maxDeadLetters: 0,
    reportError: () => {},
  });
  // Recording per call through the SDK, for comparison.
  const sdkMeter = new MeterProvider({ readers: [new ManualReader()] }).getMeter('bench');
  const counter = sdkMeter.createCounter('bench.calls', { valueType: ValueType.INT });
  const histogram = sdkMeter.createHistogram('bench.duration', { unit: 's' });
  const counterAttributes: Attributes = {
    'baldur.dependency': 'bench',
    'baldur.outcome': 'success',
    'baldur.policy': 'none',
  };
  const histogramAttributes: Attributes = {
    'baldur.dependency': 'bench',
    'baldur.outcome': 'success',
  };
  sinkSlot.current = durationHistogramSink(sdkMeter);

  const pipelineNoMetrics = protect('bench-plain', fn, POLICIES);
  const pipelineMetrics = protect('bench-metrics', fn, POLICIES);
  const pipelineAttached = protect('bench-attached', fn, POLICIES);
  const pipelineNaive = protect('bench-naive', fn, POLICIES);
  const use = (e: Engine) => () => {
    state.engine = e;
  };
  const variants: Record<string, Variant> = {
    baseline: { op: fn },
    'counter.add per call (no pipeline)': {
      op: () => {
        counter.add(1, counterAttributes);
        return fn();
      },
    },
    'histogram.record per call (no pipeline)': {
      op: () => {
        histogram.record(0.001, histogramAttributes);
        return fn();
      },
    },
    'pipeline, no metrics': { op: pipelineNoMetrics, before: use(plain) },
    "pipeline + Baldur's metrics (own SDK: observable + producer)": {
      op: pipelineMetrics,
      before: use(measured),
    },
    'pipeline + duration histogram per call (SDK of the app)': {
      op: pipelineAttached,
      before: use(attached),
    },
    'pipeline + counter.add + histogram.record per call': {
      op: () => {
        counter.add(1, counterAttributes);
        histogram.record(0.001, histogramAttributes);
        return pipelineNaive();
      },
      before: use(plain),
    },
  };
  const result = await runVariants(pick(variants, only), rounds);
  if (only !== undefined && only !== 'collect') return { rounds, variants: result };

  // One collection: Baldur's instruments over 1 pipeline, then over 500 dependencies.
  const collect = async (): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = process.hrtime.bigint();
      await reader.collect();
      times.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    return median(times);
  };
  const one = await collect();
  state.engine = measured;
  const PIPELINES = 500;
  for (let i = 0; i < PIPELINES; i++) await protect(`bench-dep-${i}`, fn, POLICIES)();
  const many = await collect();
  return { rounds, variants: result, collectUs: { one, many, pipelines: PIPELINES + 1 } };
}

export async function runTracing(rounds = 15, only?: string): Promise<TelemetryResult> {
  const state = baldurGlobal();
  const withoutSpans = engine(false);
  const withSpans = engine(false);
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new NoopSpanExporter())],
  });
  const spans = new CallSpans(provider.getTracer('baldur'), () => 'closed');
  // As in the agent: with tracing off nobody listens, and pipelines do not even assemble the event.
  let subscription: Disposable | undefined;
  const record = (on: boolean): void => {
    if (on) subscription ??= state.bus.on('call.eventful', event => spans.record(event));
    else {
      subscription?.dispose();
      subscription = undefined;
    }
  };
  const contextManager = new AsyncLocalStorageContextManager();
  const asyncContext = (on: boolean): void => {
    if (!on) {
      context.disable();
      return;
    }
    context.setGlobalContextManager(contextManager.enable());
    // As in a traced app (a server span per request): the storage is in use, promises pay for it.
    context.with(context.active(), () => undefined);
  };
  const failOnce = (): Op => {
    let n = 0;
    // eslint-disable-next-line @typescript-eslint/require-await -- fails every other attempt
    return async () => {
      if (n++ % 2 === 0) throw new Error('transient');
      return 1;
    };
  };
  const policies = {
    retry: { maxAttempts: 2, baseDelay: 0, jitter: 0, budget: false },
    circuitBreaker: false,
  } as const;
  const noSpan = protect('bench-fail-nospan', failOnce(), policies);
  const span = protect('bench-fail-span', failOnce(), policies);
  const spanAls = protect('bench-fail-span-als', failOnce(), policies);
  const variants: Record<string, Variant> = {
    baseline: {
      op: fn,
      before: () => {
        record(false);
        asyncContext(false);
      },
    },
    'failing once, retried (tracing off)': {
      op: noSpan,
      before: () => {
        state.engine = withoutSpans;
        record(false);
        asyncContext(false);
      },
    },
    'failing once, retried + baldur span': {
      op: span,
      before: () => {
        state.engine = withSpans;
        record(true);
        asyncContext(false);
      },
    },
    'failing once, retried + baldur span + async context manager in use': {
      op: spanAls,
      before: () => {
        state.engine = withSpans;
        record(true);
        asyncContext(true);
      },
    },
  };
  const result = await runVariants(pick(variants, only), rounds);
  context.disable();
  await provider.shutdown();
  return { rounds, variants: result };
}

/** Variant names of a suite, in table order. */
export const VARIANT_NAMES: Record<'metrics' | 'tracing', readonly string[]> = {
  metrics: [
    'counter.add per call (no pipeline)',
    'histogram.record per call (no pipeline)',
    'pipeline, no metrics',
    "pipeline + Baldur's metrics (own SDK: observable + producer)",
    'pipeline + duration histogram per call (SDK of the app)',
    'pipeline + counter.add + histogram.record per call',
  ],
  tracing: [
    'failing once, retried (tracing off)',
    'failing once, retried + baldur span',
    'failing once, retried + baldur span + async context manager in use',
  ],
};

/**
 * Each variant in fresh processes (with the baseline measured alongside), so
 * no variant runs on code the JIT shaped for another; `processes` interleaved
 * processes per variant, medians across them.
 */
export function runIsolated(
  suite: 'metrics' | 'tracing',
  rounds: number,
  processes: number,
): TelemetryResult {
  const runs = new Map<string, TelemetryVariant[]>();
  let baselines: number[] = [];
  for (let p = 0; p < processes; p++) {
    for (const name of VARIANT_NAMES[suite]) {
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', __filename, suite, String(rounds), name],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const result = JSON.parse(out.trim().split('\n').pop()!) as TelemetryResult;
      baselines = [...baselines, result.variants.find(v => v.name === 'baseline')!.nsPerOp];
      const variant = result.variants.find(v => v.name === name)!;
      runs.set(name, [...(runs.get(name) ?? []), variant]);
    }
  }
  let collectUs: TelemetryResult['collectUs'];
  if (suite === 'metrics') {
    const out = execFileSync(process.execPath, ['--expose-gc', __filename, suite, '3', 'collect'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    collectUs = (JSON.parse(out.trim().split('\n').pop()!) as TelemetryResult).collectUs;
  }
  const variants: TelemetryVariant[] = [
    { name: 'baseline', nsPerOp: median(baselines), addedNs: 0, ratio: 1 },
    ...VARIANT_NAMES[suite].map(name => {
      const list = runs.get(name)!;
      return {
        name,
        nsPerOp: median(list.map(v => v.nsPerOp)),
        addedNs: median(list.map(v => v.addedNs)),
        ratio: median(list.map(v => v.ratio)),
      };
    }),
  ];
  return { rounds, processes, variants, ...(collectUs === undefined ? {} : { collectUs }) };
}

if (require.main === module) {
  const suite = process.argv[2] === 'tracing' ? 'tracing' : 'metrics';
  const rounds = Number(process.argv[3] ?? 15);
  const only = process.argv[4];
  const run = async (): Promise<TelemetryResult> => {
    if (only === 'isolated') return runIsolated(suite, rounds, Number(process.argv[5] ?? 5));
    return suite === 'tracing' ? runTracing(rounds, only) : runMetrics(rounds, only);
  };
  run()
    .then(result => console.log(JSON.stringify(result)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

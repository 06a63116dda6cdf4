import { ROOT_CONTEXT, ValueType, type Attributes, type Meter } from '@opentelemetry/api';
import { DURATION_BUCKETS_S } from '../core/pipeline/duration-histogram';
import type { StateStore } from '../core/store';
import { ATTR } from '../names/attributes';
import { METRICS } from '../names/metrics';
import type { StoreOperationStat, StoreOutcome } from '../store/resilient-store';

/** A store that keeps per-operation durations: the ResilientStore every shared store is wrapped in. */
export interface ObservedStore {
  readonly kind: StateStore['kind'];
  operationStats(): StoreOperationStat[];
  onOperation(
    recorder: ((operation: string, outcome: StoreOutcome, durationMs: number) => void) | undefined,
  ): void;
}

export function observedStore(store: StateStore | undefined): ObservedStore | undefined {
  const candidate = store as Partial<ObservedStore> | undefined;
  return typeof candidate?.operationStats === 'function' &&
    typeof candidate.onOperation === 'function'
    ? (candidate as ObservedStore)
    : undefined;
}

export function storeOperationAttributes(
  kind: string,
  operation: string,
  outcome: string,
): Attributes {
  return { [ATTR.STORE]: kind, [ATTR.STORE_OPERATION]: operation, [ATTR.OUTCOME]: outcome };
}

/**
 * `baldur.store.operation.duration` recorded per operation through an SDK
 * Baldur does not own (with its own SDK, the metric producer reads the store's
 * in-process histograms instead). Attribute sets are cached.
 */
export function attachStoreRecorder(meter: Meter, store: ObservedStore): () => void {
  const histogram = meter.createHistogram(METRICS.STORE_OPERATION_DURATION.name, {
    description: METRICS.STORE_OPERATION_DURATION.description,
    unit: METRICS.STORE_OPERATION_DURATION.unit,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
  });
  const attributes = new Map<string, Attributes>();
  store.onOperation((operation, outcome, durationMs) => {
    const key = `${operation}|${outcome}`;
    let set = attributes.get(key);
    if (set === undefined) {
      set = Object.freeze(storeOperationAttributes(store.kind, operation, outcome));
      attributes.set(key, set);
    }
    histogram.record(durationMs / 1000, set, ROOT_CONTEXT);
  });
  return () => store.onOperation(undefined);
}

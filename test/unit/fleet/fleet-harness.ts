import { createFleet } from '../../../src/fleet/fleet';
import { loadConfig } from '../../../src/config/load';
import { resolvePipelineOptions } from '../../../src/config/policies';
import type { PolicyOptions } from '../../../src/config/schema';
import type { BaldurEvent } from '../../../src/core/events';
import type { Pipeline } from '../../../src/core/pipeline/pipeline';
import type { StateStore } from '../../../src/core/store';
import { Engine } from '../../../src/engine/engine';
import { createLogger, type Logger } from '../../../src/log';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { ResilientStore } from '../../../src/store/resilient-store';
import { FakeClock, flushPromises } from '../../support/fake-clock';
import { parsePolicy, QUIET } from '../core/pipeline-harness';

export type Availability = 'up' | 'down';

/**
 * One worker's view of the shared backend: every call goes to the shared
 * memory store unless the test takes this worker's link down (calls reject
 * like a refused connection). `close` does not close the shared store.
 */
function link(memory: MemoryStore, state: { current: Availability }): StateStore {
  return new Proxy(memory, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === 'close') return () => Promise.resolve();
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.current === 'down')
          return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

export interface Worker {
  readonly id: string;
  readonly engine: Engine;
  readonly store: ResilientStore;
  readonly events: BaldurEvent[];
  readonly logs: string[];
  pipeline(name?: string): Pipeline;
}

export interface FleetOptions {
  readonly policy?: PolicyOptions;
  readonly store?: Record<string, unknown>;
}

/**
 * Several engines (workers) sharing one memory store — each through its own
 * ResilientStore, as over a network — on one fake clock. The memory store's
 * pub/sub delivers asynchronously, like a networked store's.
 */
export function fleet(size: number, options: FleetOptions = {}) {
  const clock = new FakeClock();
  const memory = new MemoryStore({ clock });
  const availability = { current: 'up' as Availability };
  const { config } = loadConfig({
    files: false,
    programmatic: {
      store: { reconcileInterval: '1s', snapshotInterval: '5s', ...options.store },
    },
  });
  const policy: PolicyOptions = {
    ...QUIET,
    circuitBreaker: {
      failureThreshold: 2,
      failureRateThreshold: 0,
      recoveryTimeout: '1s',
      halfOpenMaxCalls: 2,
      successThreshold: 2,
    },
    ...options.policy,
  };
  const workers: Worker[] = [];
  const add = (id = `w${workers.length}`): Worker => {
    const logs: string[] = [];
    const logger: Logger = createLogger('debug', line => logs.push(line));
    const store = new ResilientStore(link(memory, availability), { clock, timeoutMs: 250, logger });
    const engine = new Engine({ config, clock, store, logger, fleet: createFleet, instanceId: id });
    const events: BaldurEvent[] = [];
    engine.bus.onAny(event => events.push(event));
    const worker: Worker = {
      id,
      engine,
      store,
      events,
      logs,
      pipeline: (name = 'dep') =>
        engine.pipeline(name, () => resolvePipelineOptions(name, [parsePolicy(policy)], {})),
    };
    workers.push(worker);
    return worker;
  };
  for (let i = 0; i < size; i++) add();
  return {
    clock,
    memory,
    workers,
    add,
    /** Take every worker's link to the store down, or bring it back. */
    set availability(value: Availability) {
      availability.current = value;
    },
    /** Let store calls, messages and timers run. */
    async settle(ms = 0): Promise<void> {
      await flushPromises();
      await clock.advanceAsync(ms);
      await flushPromises();
    },
    async close(): Promise<void> {
      await Promise.all(workers.map(w => w.engine.shutdown()));
    },
  };
}

/** A callee that fails with a connection error. */
export const failing = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
export const succeeding = (): Promise<string> => Promise.resolve('ok');

/** Run one call through a pipeline, never throwing: 'ok', 'failed' or the Baldur error code. */
export async function attempt(pipeline: Pipeline, fn: () => Promise<unknown>): Promise<string> {
  try {
    await pipeline.execute(fn, undefined, []);
    return 'ok';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith('BALDUR_') ? code : 'failed';
  }
}

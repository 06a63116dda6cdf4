/**
 * Heap per 10,000 dependency breakers, and timers created, for Baldur's breaker
 * and whole pipelines against opossum and cockatiel. Keys and the Map holding
 * the instances are created before the first measurement, so only the
 * instances are counted. Needs --expose-gc (`npm run bench` passes it).
 */
import { createHook } from 'node:async_hooks';
import CircuitBreakerOpossum from 'opossum';
import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import { systemClock } from '../src/core/clock';
import { CircuitBreaker } from '../src/core/policies/circuit-breaker/circuit-breaker';
import { CIRCUIT_BREAKER_DEFAULTS } from '../src/core/policies/circuit-breaker/options';
import { loadConfig } from '../src/config/load';
import { Engine } from '../src/engine/engine';

const KEYS = 10_000;

export interface MemoryRow {
  readonly name: string;
  readonly bytesPerKey: number;
  readonly bytesPerKeyAfterCall: number;
  readonly mbPer10k: number;
  readonly timersCreated: number;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function measure(
  name: string,
  create: (key: string) => unknown,
  callOnce: (instance: unknown) => Promise<unknown>,
  dispose: (instance: unknown) => void = () => {},
): Promise<MemoryRow> {
  const keys = Array.from({ length: KEYS }, (_, i) => `http:service-${i}.internal:443`);
  const map = new Map<string, unknown>(keys.map(k => [k, undefined]));
  let timers = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'Timeout') timers++;
    },
  }).enable();
  const before = heapUsed();
  for (const key of keys) map.set(key, create(key));
  hook.disable();
  const afterCreate = heapUsed();
  for (const instance of map.values()) await callOnce(instance);
  const afterCall = heapUsed();
  for (const instance of map.values()) dispose(instance);
  return {
    name,
    bytesPerKey: (afterCreate - before) / KEYS,
    bytesPerKeyAfterCall: (afterCall - before) / KEYS,
    mbPer10k: (afterCall - before) / 1024 / 1024,
    timersCreated: timers,
  };
}

const NO_LISTENER = { breakerTransitioned: (): void => {} };

// eslint-disable-next-line @typescript-eslint/require-await -- the trivial async callee being measured
const fn = async (): Promise<number> => 1;

export async function runMemory(which: string): Promise<MemoryRow> {
  switch (which) {
    case 'baldur-breaker':
      return measure(
        'baldur CircuitBreaker',
        // Its owner (a pipeline) is the transition listener: nothing is allocated for it.
        () => new CircuitBreaker(CIRCUIT_BREAKER_DEFAULTS, systemClock, NO_LISTENER),
        instance => {
          const breaker = instance as CircuitBreaker;
          breaker.record(breaker.tryAcquire(), false, 0);
          return Promise.resolve();
        },
      );
    case 'baldur-pipeline': {
      const engine = new Engine({
        config: loadConfig({ files: false, programmatic: { maxDependencies: 20_000 } }).config,
      });
      return measure(
        'baldur dependency pipeline (breaker+retry+cooldown+stats)',
        key => engine.dependency(key, { system: 'http', host: key, port: 443 }, {}),
        instance => (instance as ReturnType<Engine['dependency']>).execute(fn, undefined, []),
      );
    }
    case 'cockatiel':
      return measure(
        'cockatiel circuitBreaker(Consecutive)',
        () =>
          circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
        instance => (instance as ReturnType<typeof circuitBreaker>).execute(fn),
      );
    case 'opossum':
      return measure(
        'opossum CircuitBreaker (defaults)',
        () => new CircuitBreakerOpossum(fn),
        instance => (instance as CircuitBreakerOpossum).fire(),
        instance => (instance as CircuitBreakerOpossum).shutdown(),
      );
    default:
      throw new Error(`unknown memory variant ${which}`);
  }
}

export const MEMORY_VARIANTS = [
  'baldur-breaker',
  'baldur-pipeline',
  'cockatiel',
  'opossum',
] as const;

if (require.main === module) {
  runMemory(process.argv[2] ?? 'baldur-breaker')
    .then(row => console.log(JSON.stringify(row)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

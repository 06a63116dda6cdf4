/**
 * Redis-mode hot path vs memory mode (SPEC §10: ≥ 0.95×). One fresh process
 * per mode and round (the orchestrator alternates them): an engine built the
 * way the agent builds it — on the default memory store, or on the Redis
 * store with the fleet layer on — and two pipelines: breaker + retry +
 * bulkhead around `async () => 1`, and the same with a (never binding) rate
 * limit, which in Redis mode spends permits leased from the fleet-wide
 * bucket. Prints the median ns/op of each pipeline over shuffled samples.
 *
 *   node --expose-gc build/bench/fleet-hot.js <memory|redis> [rounds] [redisUrl]
 */
import { loadConfig } from '../src/config/load';
import { resolvePipelineOptions } from '../src/config/policies';
import { Engine } from '../src/engine/engine';
import { createFleet } from '../src/fleet/fleet';
import { createStore } from '../src/store/create-store';
import { median, shuffle } from './lib/stats';
import { compileLoop, timePerCall, trivialCall, type Op } from './lib/loop';

export type HotMode = 'memory' | 'redis';

/** One process's measurement: median ns/op of each pipeline variant. */
export interface FleetHotRun {
  readonly mode: HotMode;
  readonly variants: { name: string; nsPerOp: number }[];
}

const fn = trivialCall;

const POLICIES = {
  'breaker+retry+bulkhead': {
    retry: { maxAttempts: 3 },
    bulkhead: { maxConcurrent: 100, maxQueue: 1_000 },
  },
  'breaker+retry+bulkhead+rate limit': {
    retry: { maxAttempts: 3 },
    bulkhead: { maxConcurrent: 100, maxQueue: 1_000 },
    rateLimit: { limit: 1_000_000_000, per: 1_000 },
  },
} as const;

export async function runFleetHot(
  mode: HotMode,
  rounds = 9,
  redisUrl = 'redis://127.0.0.1:6379',
  sampleMs = 25,
): Promise<FleetHotRun> {
  const prefix = `bench_hot_${process.pid}`;
  const { config } = loadConfig({
    files: false,
    env: { BALDUR_REDIS_URL: redisUrl, BALDUR_KEY_PREFIX: prefix },
  });
  let engine: Engine;
  if (mode === 'memory') engine = new Engine({ config });
  else {
    const store = createStore(config);
    if (store === undefined) throw new Error('no Redis store configured');
    engine = new Engine({ config, store, fleet: createFleet });
  }
  const ops: Record<string, Op> = {};
  for (const [policyName, policy] of Object.entries(POLICIES)) {
    const name = `bench-${policyName}`;
    const pipeline = engine.pipeline(name, () =>
      resolvePipelineOptions(name, [config.defaults, policy], {}),
    );
    ops[policyName] = () => pipeline.execute(fn, undefined, []);
  }
  // Connect, lease the first permits, warm up the JIT.
  for (const op of Object.values(ops)) await op();
  const keepAlive = [setInterval(() => {}, 3_000), setInterval(() => {}, 10_000)];
  const names = Object.keys(ops);
  const loops = new Map(names.map(name => [name, compileLoop()]));
  const iterations = new Map<string, number>();
  for (const name of names) {
    await loops.get(name)!(ops[name]!, 50_000);
    const ns = await timePerCall(loops.get(name)!, ops[name]!, 20_000);
    iterations.set(name, Math.max(200, Math.round((sampleMs * 1e6) / ns)));
  }
  const perRound: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of shuffle(names))
      perRound[name]!.push(await timePerCall(loops.get(name)!, ops[name]!, iterations.get(name)!));
  }
  keepAlive.forEach(t => clearInterval(t));
  await engine.shutdown();
  return { mode, variants: names.map(name => ({ name, nsPerOp: median(perRound[name]!) })) };
}

if (require.main === module) {
  const mode = process.argv[2] === 'redis' ? 'redis' : 'memory';
  runFleetHot(mode, Number(process.argv[3] ?? 9), process.argv[4])
    // A large line to a pipe is written asynchronously: exit once it is out.
    .then(result => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

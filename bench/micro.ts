/**
 * Per-call overhead around a trivial `async () => 1`, all variants in one
 * process: Baldur's protect() with the breaker only and with the four-policy
 * pipeline, against opossum and cockatiel. Each round runs every variant once in
 * shuffled order; overhead and ratio are medians of per-round differences from
 * the baseline, so machine noise cancels out.
 *
 * Run through `npm run bench`, or alone: `node --expose-gc build/bench/micro.js`.
 */
import CircuitBreakerOpossum from 'opossum';
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleAll,
  retry,
  timeout,
  wrap,
} from 'cockatiel';
import { protect } from '../src/index';
import { median, shuffle } from './lib/stats';
import { compileLoop, timePerCall, trivialCall, type Op } from './lib/loop';

export interface MicroResult {
  readonly rounds: number;
  readonly variants: { name: string; nsPerOp: number; addedNs: number; ratio: number }[];
}

const fn = trivialCall;

function variants(): Record<string, Op> {
  const opossum = new CircuitBreakerOpossum(fn);
  const cockatielBreaker = circuitBreaker(handleAll, {
    halfOpenAfter: 10_000,
    breaker: new ConsecutiveBreaker(5),
  });
  const cockatielWrap = wrap(
    retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(3_000, TimeoutStrategy.Cooperative),
    bulkhead(100, 1_000),
  );
  const breakerOnly = protect('bench-breaker', fn);
  const fourPolicies = protect('bench-four', fn, {
    retry: { maxAttempts: 3 },
    bulkhead: { maxConcurrent: 100, maxQueue: 1_000 },
    timeout: '10s',
  });
  const noTimeout = protect('bench-three', fn, {
    retry: { maxAttempts: 3 },
    bulkhead: { maxConcurrent: 100, maxQueue: 1_000 },
  });
  return {
    baseline: fn,
    'baldur protect: breaker': breakerOnly,
    'baldur protect: breaker+retry+bulkhead': noTimeout,
    'baldur protect: breaker+retry+bulkhead+timeout': fourPolicies,
    'opossum fire (defaults)': () => opossum.fire(),
    'cockatiel circuitBreaker(Consecutive)': () => cockatielBreaker.execute(fn),
    'cockatiel wrap(retry,breaker,timeout,bulkhead)': () => cockatielWrap.execute(fn),
  };
}

export async function runMicro(rounds = 15, sampleMs = 25): Promise<MicroResult> {
  // Under real concurrency the 3 s and 10 s timer lists exist; keep them alive so
  // timer-using variants are not charged for rebuilding them on every call.
  const keepAlive = [setInterval(() => {}, 3_000), setInterval(() => {}, 10_000)];
  keepAlive.forEach(t => t.unref());
  const ops = variants();
  const names = Object.keys(ops);
  const loops = new Map(names.map(name => [name, compileLoop()]));
  const iterations = new Map<string, number>();
  for (const name of names) {
    const op = ops[name]!;
    const loop = loops.get(name)!;
    await loop(op, 20_000); // warm up the JIT
    const ns = await timePerCall(loop, op, 20_000);
    iterations.set(name, Math.max(200, Math.round((sampleMs * 1e6) / ns)));
  }
  const perRound: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const added: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const ratios: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const measured: Record<string, number> = {};
    for (const name of shuffle(names)) {
      measured[name] = await timePerCall(loops.get(name)!, ops[name]!, iterations.get(name)!);
    }
    for (const name of names) {
      perRound[name]!.push(measured[name]!);
      added[name]!.push(measured[name]! - measured.baseline!);
      ratios[name]!.push(measured[name]! / measured.baseline!);
    }
  }
  keepAlive.forEach(t => clearInterval(t));
  return {
    rounds,
    variants: names.map(name => ({
      name,
      nsPerOp: median(perRound[name]!),
      addedNs: median(added[name]!),
      ratio: median(ratios[name]!),
    })),
  };
}

if (require.main === module) {
  const rounds = Number(process.argv[2] ?? 15);
  runMicro(rounds)
    .then(result => console.log(JSON.stringify(result)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

/**
 * One process of a distributed rate-limit run: `concurrency` closed loops of
 * rate-limit decisions on one shared key, from `startAtWallMs` for
 * `durationMs`, with Baldur's fleet-wide limiter (a pipeline with only a rate
 * limit, leasing permits from the shared store) or rate-limiter-flexible's
 * store limiter (one store round trip per decision). Prints one JSON line.
 *
 *   node build/bench/fleet-rate-limit-worker.js <baldur|rlflex> <redis|postgresql> <key> <limit>
 *        <concurrency> <startAtWallMs> <durationMs>
 */
import { loadConfig } from '../src/config/load';
import { resolvePipelineOptions } from '../src/config/policies';
import { Engine } from '../src/engine/engine';
import { createFleet } from '../src/fleet/fleet';
import { createStore } from '../src/store/create-store';
import { quantile } from './lib/stats';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_DSN =
  process.env.BENCH_POSTGRES_DSN ?? 'postgresql://postgres@127.0.0.1:5432/test';
/** Latency samples kept per process (every n-th decision), for the merged p99. */
const MAX_SAMPLES = 5_000;

export interface RateLimitRun {
  readonly decisions: number;
  readonly admitted: number;
  readonly rejected: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Latency sample, µs. */
  readonly samplesUs: number[];
  readonly p99Us: number;
}

type Decide = () => Promise<'admitted' | 'rejected'>;

function baldur(
  backend: string,
  key: string,
  limit: number,
): Promise<{ decide: Decide; close: () => Promise<void> }> {
  const prefix = key.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 32);
  const env: Record<string, string> =
    backend === 'redis'
      ? { BALDUR_REDIS_URL: REDIS_URL, BALDUR_KEY_PREFIX: prefix }
      : { BALDUR_SQL_DSN: POSTGRES_DSN, BALDUR_KEY_PREFIX: prefix };
  const { config } = loadConfig({ files: false, env: { ...env, BALDUR_STORE_TIMEOUT: '1s' } });
  const store = createStore(config);
  if (store === undefined) throw new Error('no shared store configured');
  const engine = new Engine({ config, store, fleet: createFleet });
  const pipeline = engine.pipeline('bench', () =>
    resolvePipelineOptions(
      'bench',
      [{ circuitBreaker: false, retry: false, cooldown: false, rateLimit: { limit, per: 1_000 } }],
      {},
    ),
  );
  const noop = (): undefined => undefined;
  const decide: Decide = () =>
    pipeline.execute(noop, undefined, []).then(
      () => 'admitted',
      (error: unknown) => {
        if ((error as { code?: string }).code === 'BALDUR_RATE_LIMITED') return 'rejected';
        throw error;
      },
    );
  return Promise.resolve({ decide, close: () => engine.shutdown() });
}

async function rlflex(
  backend: string,
  key: string,
  limit: number,
): Promise<{ decide: Decide; close: () => Promise<void> }> {
  const flexible = await import('rate-limiter-flexible');
  const classify = (error: unknown): 'rejected' => {
    if (error instanceof flexible.RateLimiterRes) return 'rejected';
    throw error;
  };
  if (backend === 'redis') {
    const { Redis } = await import('ioredis');
    const url = new URL(REDIS_URL);
    const client = new Redis({ host: url.hostname, port: Number(url.port || 6379) });
    const limiter = new flexible.RateLimiterRedis({
      storeClient: client,
      keyPrefix: key,
      points: limit,
      duration: 1,
    });
    return {
      decide: () => limiter.consume('k').then(() => 'admitted' as const, classify),
      close: async () => void (await client.quit()),
    };
  }
  const { Pool } = await import('pg');
  const pool = new Pool({ connectionString: POSTGRES_DSN, max: 10 });
  const create = (): Promise<InstanceType<typeof flexible.RateLimiterPostgres>> =>
    new Promise((resolve, reject) => {
      const created = new flexible.RateLimiterPostgres(
        {
          storeClient: pool,
          tableName: `bench_rlflex_${key.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 60),
          points: limit,
          duration: 1,
          clearExpiredByTimeout: false,
        },
        (error?: Error) => (error === undefined ? resolve(created) : reject(error)),
      );
    });
  // Both worker processes create the peer's table at once, and PostgreSQL can report the
  // loser of that race as a duplicate type or table: the table exists then, so try again.
  let limiter: InstanceType<typeof flexible.RateLimiterPostgres>;
  for (let attempt = 1; ; attempt++) {
    try {
      limiter = await create();
      break;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const raced = code === '42710' || code === '42P07' || code === '23505';
      if (!raced || attempt === 3) throw error;
    }
  }
  return {
    decide: () => limiter.consume('k').then(() => 'admitted' as const, classify),
    close: () => pool.end(),
  };
}

export async function runWorker(
  library: string,
  backend: string,
  key: string,
  limit: number,
  concurrency: number,
  startAtWallMs: number,
  durationMs: number,
): Promise<RateLimitRun> {
  const { decide, close } = await (library === 'baldur' ? baldur : rlflex)(backend, key, limit);
  // Warm up the connection (and lease) outside the measured window, without spending the bucket.
  const warm = await (library === 'baldur' ? baldur : rlflex)(backend, `${key}-warm`, 1_000_000);
  for (let i = 0; i < 200; i++) await warm.decide();
  await warm.close();
  await decide(); // connect; the one decision is not counted
  const waitMs = startAtWallMs - Date.now();
  if (waitMs > 0) await new Promise(resolve => setTimeout(resolve, waitMs));
  const endAt = startAtWallMs + durationMs;
  let decisions = 0;
  let admitted = 0;
  let rejected = 0;
  let errors = 0;
  const samples: number[] = [];
  let seen = 0;
  const started = process.hrtime.bigint();
  const loop = async (): Promise<void> => {
    while (Date.now() < endAt) {
      const t0 = process.hrtime.bigint();
      try {
        const verdict = await decide();
        if (Date.now() > endAt) break; // decided after the window: not counted
        decisions++;
        if (verdict === 'admitted') admitted++;
        else rejected++;
      } catch {
        errors++;
        continue;
      }
      // Reservoir of latencies: keep every sample until full, then replace at random.
      const us = Number(process.hrtime.bigint() - t0) / 1_000;
      seen++;
      if (samples.length < MAX_SAMPLES) samples.push(us);
      else {
        const slot = Math.floor(Math.random() * seen);
        if (slot < MAX_SAMPLES) samples[slot] = us;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  await close();
  return {
    decisions,
    admitted,
    rejected,
    errors,
    elapsedMs,
    samplesUs: samples,
    p99Us: quantile(samples, 0.99),
  };
}

if (require.main === module) {
  // The stores' sockets and timers never keep a process alive (by design); this run must stay.
  setInterval(() => undefined, 1_000);
  const [library, backend, key, limit, concurrency, startAt, duration] = process.argv.slice(2);
  runWorker(
    library!,
    backend!,
    key!,
    Number(limit),
    Number(concurrency),
    Number(startAt),
    Number(duration),
  )
    // A large line to a pipe is written asynchronously: exit once it is out.
    .then(result => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

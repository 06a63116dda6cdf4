/**
 * One closed-loop load run against a real dependency, in its own process (the
 * orchestrator starts it plain, under `--require build/src/register.js`, or
 * with each call wrapped in opossum). Prints ops/s, latency quantiles and the
 * client's CPU per operation as one JSON line.
 *
 *   node build/bench/clients-worker.js <http|pg|ioredis> <plain|agent|opossum> <concurrency> <durationMs> [httpPort]
 */
import http from 'node:http';
import CircuitBreakerOpossum from 'opossum';
import { quantile } from './lib/stats';

export interface LoadResult {
  readonly target: string;
  readonly mode: string;
  readonly opsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerOp: number;
  readonly errors: number;
}

type Op = () => Promise<unknown>;

async function makeOp(
  target: string,
  port: number,
): Promise<{ op: Op; close: () => Promise<void> }> {
  switch (target) {
    case 'http': {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const op: Op = () =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/', agent }, res => {
              res.resume();
              res.on('end', resolve);
              res.on('error', reject);
            })
            .on('error', reject);
        });
      return { op, close: () => Promise.resolve(agent.destroy()) };
    }
    case 'pg': {
      const { Pool } = await import('pg');
      const pool = new Pool({
        host: '127.0.0.1',
        port: 5432,
        user: process.env.PGUSER ?? 'postgres',
        database: 'test',
        max: 10,
      });
      return { op: () => pool.query('SELECT 1'), close: () => pool.end() };
    }
    case 'ioredis': {
      const { Redis } = await import('ioredis');
      const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
      await redis.set('baldur:bench:key', 'value');
      return {
        op: () => redis.get('baldur:bench:key'),
        close: async () => {
          await redis.quit();
        },
      };
    }
    default:
      throw new Error(`unknown target ${target}`);
  }
}

async function main(): Promise<void> {
  const [
    target = 'http',
    mode = 'plain',
    concurrencyText = '50',
    durationText = '8000',
    portText = '0',
  ] = process.argv.slice(2);
  const concurrency = Number(concurrencyText);
  const durationMs = Number(durationText);
  const { op: raw, close } = await makeOp(target, Number(portText));
  const op: Op = mode === 'opossum' ? wrapOpossum(raw) : raw;

  // Warm-up, then the measured window.
  await closedLoop(op, concurrency, Math.min(2_000, durationMs / 4));
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const { latenciesUs, errors } = await closedLoop(op, concurrency, durationMs);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  await close();
  const count = latenciesUs.length;
  const result: LoadResult = {
    target,
    mode,
    opsPerSecond: count / elapsedS,
    p50Us: quantile(latenciesUs, 0.5),
    p99Us: quantile(latenciesUs, 0.99),
    cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, count),
    errors,
  };
  console.log(JSON.stringify(result));
}

function wrapOpossum(raw: Op): Op {
  const breaker = new CircuitBreakerOpossum(raw);
  return () => breaker.fire();
}

async function closedLoop(
  op: Op,
  concurrency: number,
  durationMs: number,
): Promise<{ latenciesUs: number[]; errors: number }> {
  const deadline = performance.now() + durationMs;
  const latenciesUs: number[] = [];
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const start = performance.now();
      try {
        await op();
        latenciesUs.push((performance.now() - start) * 1000);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latenciesUs, errors };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

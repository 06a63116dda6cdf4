/**
 * Fleet benchmarks (SPEC §10): the distributed rate limit against
 * rate-limiter-flexible's store limiters, measured in the same run.
 *
 * Each run starts `processes` fresh worker processes (fleet-rate-limit-worker)
 * deciding on one shared key, c = 50 in total, for `durationMs` from a common
 * start time. Two scenarios: `allow` (a limit that never binds: pure decision
 * throughput) and `bound` (a limit far below the demand: what the fleet
 * admits, counted against the limiter's own allowance). Rounds rotate the
 * libraries; ratios are medians of per-round ratios.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runSuite } from './lib/child';
import { median, quantile } from './lib/stats';
import type { RateLimitRun } from './fleet-rate-limit-worker';

export const LIBRARIES = ['baldur', 'rlflex'] as const;
export type Library = (typeof LIBRARIES)[number];

export interface RateLimitScenario {
  readonly name: 'allow' | 'bound';
  readonly limit: number;
}

export interface RateLimitRow {
  readonly backend: string;
  readonly scenario: string;
  readonly library: Library;
  readonly decisionsPerSecond: number;
  /** Decisions/s over rate-limiter-flexible's in the same round (median; 1 for rlflex). */
  readonly ratio: number;
  readonly p99Us: number;
  /** Admitted over the limiter's allowance for the window (median), for the bound scenario. */
  readonly admittedRatio: number | undefined;
  readonly errors: number;
}

interface Merged {
  readonly decisionsPerSecond: number;
  readonly p99Us: number;
  readonly admitted: number;
  readonly errors: number;
}

/** Permits a limiter may grant in [start, start + duration): GCRA = burst + rate × time; fixed windows = limit per window touched. */
export function allowance(
  library: Library,
  limit: number,
  startAtWallMs: number,
  durationMs: number,
): number {
  if (library === 'baldur') return limit + (limit * durationMs) / 1_000;
  const windows =
    Math.floor((startAtWallMs + durationMs - 1) / 1_000) - Math.floor(startAtWallMs / 1_000) + 1;
  return limit * windows;
}

async function runOnce(
  library: Library,
  backend: string,
  limit: number,
  processes: number,
  concurrency: number,
  durationMs: number,
): Promise<{ merged: Merged; startAtWallMs: number }> {
  const worker = join(__dirname, 'fleet-rate-limit-worker.js');
  const key = `bench_${library}_${randomBytes(4).toString('hex')}`;
  const startAtWallMs = Date.now() + 3_000;
  const runs = await Promise.all(
    Array.from({ length: processes }, () =>
      runSuite<RateLimitRun>(worker, [
        library,
        backend,
        key,
        String(limit),
        String(Math.ceil(concurrency / processes)),
        String(startAtWallMs),
        String(durationMs),
      ]),
    ),
  );
  const samples = runs.flatMap(r => r.samplesUs);
  return {
    startAtWallMs,
    merged: {
      decisionsPerSecond: runs.reduce((s, r) => s + r.decisions, 0) / (durationMs / 1_000),
      p99Us: quantile(samples, 0.99),
      admitted: runs.reduce((s, r) => s + r.admitted, 0),
      errors: runs.reduce((s, r) => s + r.errors, 0),
    },
  };
}

export async function runFleetRateLimit(
  backend: 'redis' | 'postgresql',
  options: {
    rounds: number;
    durationMs: number;
    processes: number;
    concurrency: number;
    boundLimit: number;
  },
): Promise<RateLimitRow[]> {
  const scenarios: RateLimitScenario[] = [
    { name: 'allow', limit: 1_000_000_000 },
    { name: 'bound', limit: options.boundLimit },
  ];
  const rows: RateLimitRow[] = [];
  for (const scenario of scenarios) {
    const results: Record<Library, { merged: Merged; admittedRatio: number }[]> = {
      baldur: [],
      rlflex: [],
    };
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? LIBRARIES : [...LIBRARIES].reverse();
      for (const library of order) {
        console.error(
          `[bench] fleet rate limit: ${backend} ${scenario.name} ${library} round ${round + 1}`,
        );
        const { merged, startAtWallMs } = await runOnce(
          library,
          backend,
          scenario.limit,
          options.processes,
          options.concurrency,
          options.durationMs,
        );
        results[library].push({
          merged,
          admittedRatio:
            merged.admitted / allowance(library, scenario.limit, startAtWallMs, options.durationMs),
        });
      }
    }
    for (const library of LIBRARIES) {
      const runs = results[library];
      rows.push({
        backend,
        scenario: `${scenario.name} (limit ${scenario.limit.toLocaleString('en-US')}/s)`,
        library,
        decisionsPerSecond: median(runs.map(r => r.merged.decisionsPerSecond)),
        ratio: median(
          runs.map(
            (r, i) => r.merged.decisionsPerSecond / results.rlflex[i]!.merged.decisionsPerSecond,
          ),
        ),
        p99Us: median(runs.map(r => r.merged.p99Us)),
        admittedRatio:
          scenario.name === 'bound' ? median(runs.map(r => r.admittedRatio)) : undefined,
        errors: runs.reduce((s, r) => s + r.merged.errors, 0),
      });
    }
  }
  return rows;
}

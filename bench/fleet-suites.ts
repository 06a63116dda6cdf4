/**
 * The fleet suites of `npm run bench` (spread into bench/run.ts):
 * `fleet-hot` (Redis-mode hot path vs memory mode), `fleet-redis` and
 * `fleet-postgres` (distributed rate limit vs rate-limiter-flexible's
 * RateLimiterRedis / RateLimiterPostgres). They need the local Redis and
 * PostgreSQL; a suite whose server is not reachable says so instead of a table.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { runSuite } from './lib/child';
import { fmt, median } from './lib/stats';
import { markdownTable } from './lib/table';
import { runFleetRateLimit, type RateLimitRow } from './fleet';
import type { FleetHotRun, HotMode } from './fleet-hot';

export interface BenchSuite {
  readonly name: string;
  readonly run: () => Promise<string>;
}

const quick = process.argv.includes('--quick');

function reachable(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function rateLimitTable(rows: RateLimitRow[], peer: string): string {
  return markdownTable(
    [
      'scenario',
      'limiter',
      'decisions/s',
      `ratio to ${peer}`,
      'p99 µs',
      'admitted / allowance',
      'errors',
    ],
    rows.map(r => [
      r.scenario,
      r.library === 'baldur' ? 'Baldur (leased permits)' : peer,
      fmt(r.decisionsPerSecond),
      `${fmt(r.ratio, 2)}x`,
      fmt(r.p99Us),
      r.admittedRatio === undefined ? '—' : fmt(r.admittedRatio, 4),
      String(r.errors),
    ]),
  );
}

function rateLimitSuite(
  name: string,
  backend: 'redis' | 'postgresql',
  port: number,
  peer: string,
): BenchSuite {
  return {
    name,
    run: async () => {
      if (!(await reachable(port)))
        return `### ${name}\n\n(${backend} is not reachable on 127.0.0.1:${port}; skipped)`;
      const rounds = quick ? 1 : 3;
      const durationMs = quick ? 2_000 : 3_000;
      const boundLimit = backend === 'redis' ? 5_000 : 1_000;
      const rows = await runFleetRateLimit(backend, {
        rounds,
        durationMs,
        processes: 2,
        concurrency: 50,
        boundLimit,
      });
      return [
        `### Distributed rate limit on ${backend}: 2 processes × c=25 on one key, ${rounds} round(s) × ${durationMs / 1000} s per limiter`,
        '',
        rateLimitTable(rows, peer),
        '',
        '`admitted / allowance`: calls admitted in the window over what the limiter may grant in it (GCRA: burst + limit × time; fixed windows: limit × windows touched); above 1 is overshoot. A bound-scenario decision is mostly a rejection, which Baldur answers locally (a `RateLimitedError`, without a stack trace by default) until the next lease: the cost of the rejection, not the store, bounds its rate.',
        ...(backend === 'postgresql'
          ? [
              '',
              'PostgreSQL runs with the server’s own settings (here `fsync` and `synchronous_commit` on, so every rate-limiter-flexible decision waits for a WAL flush).',
            ]
          : []),
      ].join('\n');
    },
  };
}

export const FLEET_SUITES: BenchSuite[] = [
  {
    name: 'fleet-hot',
    run: async () => {
      if (!(await reachable(6379))) return '### fleet-hot\n\n(Redis is not reachable; skipped)';
      const rounds = quick ? 2 : 5;
      const runs: Record<HotMode, FleetHotRun[]> = { memory: [], redis: [] };
      for (let round = 0; round < rounds; round++) {
        const order: HotMode[] = round % 2 === 0 ? ['memory', 'redis'] : ['redis', 'memory'];
        for (const mode of order)
          runs[mode].push(
            await runSuite<FleetHotRun>(
              join(__dirname, 'fleet-hot.js'),
              [mode, '9'],
              ['--expose-gc'],
            ),
          );
      }
      const rows = runs.memory[0]!.variants.flatMap(({ name }) => {
        const ns = (mode: HotMode): number[] =>
          runs[mode].map(r => r.variants.find(v => v.name === name)!.nsPerOp);
        const ratios = ns('memory').map((m, i) => m / ns('redis')[i]!);
        return [
          [
            name,
            fmt(median(ns('memory'))),
            fmt(median(ns('redis'))),
            `${fmt(median(ratios), 3)}x (${fmt(Math.min(...ratios), 2)}..${fmt(Math.max(...ratios), 2)})`,
          ],
        ];
      });
      return [
        `### Redis-mode hot path vs memory mode (a pipeline around \`async () => 1\`; ${rounds} rounds of one fresh process per mode, medians; budget ≥ 0.95×)`,
        '',
        markdownTable(
          ['pipeline', 'memory ns/op', 'Redis ns/op', 'Redis throughput vs memory (min..max)'],
          rows,
        ),
      ].join('\n');
    },
  },
  rateLimitSuite('fleet-redis', 'redis', 6379, 'rate-limiter-flexible RateLimiterRedis'),
  rateLimitSuite('fleet-postgres', 'postgresql', 5432, 'rate-limiter-flexible RateLimiterPostgres'),
];

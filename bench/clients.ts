/**
 * Client throughput under the agent: plain vs agent vs opossum-wrapped, for
 * http (c=50), pg (c=20) and ioredis (c=50), against real local servers. Each
 * run is a fresh worker process; rounds rotate the modes and ratios are taken
 * within a round, so machine noise cancels out of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { runSuite } from './lib/child';
import { canPin, onCpu } from './lib/cpu-pinning';
import { median } from './lib/stats';
import type { LoadResult } from './clients-worker';

export const CLIENT_TARGETS = [
  { target: 'http', concurrency: 50, instrumentation: 'http' },
  { target: 'pg', concurrency: 20, instrumentation: 'pg' },
  { target: 'ioredis', concurrency: 50, instrumentation: 'ioredis' },
] as const;

export const MODES = ['plain', 'agent', 'opossum'] as const;

export interface ClientRow {
  readonly target: string;
  readonly mode: string;
  readonly opsPerSecond: number;
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  /** Best round against best round: contention only ever slows a round down, so each mode's best is its least disturbed. */
  readonly bestRatio: number;
  readonly p99Us: number;
  readonly cpuUsPerOp: number;
  readonly errors: number;
}

/** The CPUs of the load generator (every worker) and of the HTTP server. */
const WORKER_CPU = 0;
const SERVER_CPU = 1;

/** How the figures were taken, for the report. */
export function pinningNote(pin: boolean): string {
  if (!pin) return 'Not pinned (--unpinned)';
  return canPin()
    ? `Load generator pinned to CPU ${WORKER_CPU}, HTTP server to CPU ${SERVER_CPU} (taskset)`
    : 'Not pinned (taskset or a second CPU missing): expect a wider spread';
}

/** A separate Node process answering `200 ok` (as in the peer measurements). */
function startHttpServer(pin: boolean): Promise<{ port: number; child: ChildProcess }> {
  const source = `const s=require('node:http').createServer((q,r)=>{r.writeHead(200,{'content-type':'text/plain'});r.end('ok')});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`;
  const { command, args } = onCpu(pin ? SERVER_CPU : undefined, [process.execPath, '-e', source]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise(resolve =>
    child.stdout.once('data', (chunk: Buffer) =>
      resolve({ port: Number(chunk.toString().trim()), child }),
    ),
  );
}

export async function runClients(
  rounds: number,
  durationMs: number,
  targets: readonly string[],
  /** Pin the load generator and the HTTP server to a CPU each (see `canPin`). */
  pin = true,
): Promise<ClientRow[]> {
  const worker = join(__dirname, 'clients-worker.js');
  const register = join(__dirname, '../src/register.js');
  const server = await startHttpServer(pin);
  const rows: ClientRow[] = [];
  try {
    for (const spec of CLIENT_TARGETS.filter(t => targets.includes(t.target))) {
      const results: Record<string, LoadResult[]> = { plain: [], agent: [], opossum: [] };
      for (let round = 0; round < rounds; round++) {
        const order = [
          ...MODES.slice(round % MODES.length),
          ...MODES.slice(0, round % MODES.length),
        ];
        for (const mode of order) {
          const nodeArgs = mode === 'agent' ? ['--require', register] : [];
          const result = await runSuite<LoadResult>(
            worker,
            [spec.target, mode, String(spec.concurrency), String(durationMs), String(server.port)],
            nodeArgs,
            { BALDUR_INSTRUMENTATIONS: spec.instrumentation, BALDUR_OTEL_SDK: 'off' },
            pin ? WORKER_CPU : undefined,
          );
          results[mode]!.push(result);
        }
      }
      const best = (mode: string): number => Math.max(...results[mode]!.map(r => r.opsPerSecond));
      for (const mode of MODES) {
        const ratios = results[mode]!.map(
          (r, i) => r.opsPerSecond / results.plain![i]!.opsPerSecond,
        );
        rows.push({
          target: `${spec.target} (c=${spec.concurrency})`,
          mode,
          opsPerSecond: median(results[mode]!.map(r => r.opsPerSecond)),
          ratio: median(ratios),
          ratioMin: Math.min(...ratios),
          ratioMax: Math.max(...ratios),
          bestRatio: best(mode) / best('plain'),
          p99Us: median(results[mode]!.map(r => r.p99Us)),
          cpuUsPerOp: median(results[mode]!.map(r => r.cpuUsPerOp)),
          errors: results[mode]!.reduce((sum, r) => sum + r.errors, 0),
        });
      }
    }
  } finally {
    server.child.kill();
  }
  return rows;
}

/**
 * Client throughput under the agent: plain vs agent vs opossum-wrapped, for
 * http (c=50), pg (c=20) and ioredis (c=50), against real local servers. Each
 * run is a fresh worker process; rounds rotate the modes and ratios are taken
 * within a round, so machine noise cancels out of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { runSuite } from './lib/child';
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
  readonly p99Us: number;
  readonly cpuUsPerOp: number;
  readonly errors: number;
}

/** A separate Node process answering `200 ok` (as in the peer measurements). */
function startHttpServer(): Promise<{ port: number; child: ChildProcess }> {
  const source = `const s=require('node:http').createServer((q,r)=>{r.writeHead(200,{'content-type':'text/plain'});r.end('ok')});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
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
): Promise<ClientRow[]> {
  const worker = join(__dirname, 'clients-worker.js');
  const register = join(__dirname, '../src/register.js');
  const server = await startHttpServer();
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
          );
          results[mode]!.push(result);
        }
      }
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

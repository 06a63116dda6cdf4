/**
 * Instructions per client call under the agent, counted by valgrind's
 * callgrind — repeatable where wall-clock figures on a shared VM are not. Fixed
 * hash and random seeds, no background compiler or GC threads; the figure per
 * call is the difference between a long and a short run (start-up and warm-up
 * cancel out). Garbage collection is shown apart: its share per call depends on
 * where collections fall in the window. Only the client process is counted.
 *
 * - `http`: `http.get` against an in-memory socket (no syscalls, no server).
 * - `pg`: `pool.query('SELECT 1')` against the local PostgreSQL (the kernel's
 *   and the server's work are not in the figure).
 *
 *   node build/bench/instructions.js [http] [pg]     (needs valgrind; a few minutes each)
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';

const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
);

/** A socket that answers every request with `200 ok` on the next turn of the loop. */
class InMemorySocket extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 80;
  readonly connecting = false;
  override _read(): void {}
  override _write(chunk: Buffer | string, _encoding: string, done: () => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    if (text.endsWith('\r\n\r\n')) setImmediate(() => this.push(RESPONSE));
    done();
  }
  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

class InMemoryAgent extends http.Agent {
  override createConnection(): Duplex {
    const socket = new InMemorySocket();
    process.nextTick(() => socket.emit('connect'));
    return socket;
  }
}

/** `requests` closed-loop `http.get` calls, 50 at a time (as in the clients suite). */
async function loadHttp(requests: number): Promise<void> {
  const agent = new InMemoryAgent({ keepAlive: true, maxSockets: 64 });
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: 8080, path: '/', agent }, res => {
          res.resume();
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
  const run = async (count: number): Promise<void> => {
    let left = count;
    const worker = async (): Promise<void> => {
      while (left-- > 0) await one();
    };
    await Promise.all(Array.from({ length: 50 }, worker));
  };
  await run(10_000);
  (globalThis as { gc?: () => void }).gc?.();
  await run(requests);
  agent.destroy();
}

/** `queries` closed-loop `pool.query('SELECT 1')` calls, 20 at a time on 10 connections (as in the clients suite). */
async function loadPg(queries: number): Promise<void> {
  const { Pool } = await import('pg');
  const pool = new Pool({
    host: '127.0.0.1',
    port: 5432,
    user: process.env.PGUSER ?? 'postgres',
    database: 'test',
    max: 10,
  });
  const run = async (count: number): Promise<void> => {
    let left = count;
    const worker = async (): Promise<void> => {
      while (left-- > 0) await pool.query('SELECT 1');
    };
    await Promise.all(Array.from({ length: 20 }, worker));
  };
  await run(5_000);
  (globalThis as { gc?: () => void }).gc?.();
  await run(queries);
  await pool.end();
}

/** Per target: its load, the instrumentation it needs, and the short and long run lengths. */
const TARGETS = {
  http: { load: loadHttp, instrumentation: 'http', short: 10_000, long: 30_000 },
  pg: { load: loadPg, instrumentation: 'pg', short: 5_000, long: 15_000 },
} as const;

type Target = keyof typeof TARGETS;

const GC = /Mark|Sweep|Scaveng|Evacuat|Heap|Collector|RememberedSet|Slot|Barrier|Visitor|FreeList/;

function exec(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', code =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}`)),
    );
  });
}

/** Total and GC instructions of one run. */
async function count(
  target: Target,
  calls: number,
  nodeArgs: string[],
): Promise<{ total: number; gc: number }> {
  const file = join(
    tmpdir(),
    `baldur-callgrind-${process.pid}-${target}-${calls}-${nodeArgs.length}`,
  );
  const node = ['--single-threaded', '--expose-gc', '--hash-seed=1', '--random-seed=1'];
  const env = {
    ...process.env,
    BALDUR_OTEL_SDK: 'off',
    BALDUR_INSTRUMENTATIONS: TARGETS[target].instrumentation,
  };
  try {
    await exec(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${file}`,
        process.execPath,
        ...node,
        ...nodeArgs,
        __filename,
        'load',
        target,
        String(calls),
      ],
      env,
    );
    const report = await exec('callgrind_annotate', ['--threshold=100', file], env);
    let total = 0;
    let gc = 0;
    for (const line of report.split('\n')) {
      const match = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
      if (match === null) continue;
      const value = Number(match[1]!.replaceAll(',', ''));
      if (match[2]!.includes('PROGRAM TOTALS')) total = value;
      else if (GC.test(match[2]!)) gc += value;
    }
    return { total, gc };
  } finally {
    rmSync(file, { force: true });
  }
}

async function perCall(target: Target, nodeArgs: string[]): Promise<{ total: number; gc: number }> {
  const { short, long } = TARGETS[target];
  const [small, large] = await Promise.all([
    count(target, short, nodeArgs),
    count(target, long, nodeArgs),
  ]);
  const calls = long - short;
  return { total: (large.total - small.total) / calls, gc: (large.gc - small.gc) / calls };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'load') {
    return TARGETS[process.argv[3] as Target].load(Number(process.argv[4]));
  }
  const asked = process.argv.slice(2);
  const targets = (Object.keys(TARGETS) as Target[]).filter(
    t => asked.length === 0 || asked.includes(t),
  );
  console.log('| client | mode | instructions per call (GC excluded) | added | GC |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const target of targets) {
    const plain = await perCall(target, []);
    const agent = await perCall(target, ['--require', join(__dirname, '../src/register.js')]);
    const plainWork = plain.total - plain.gc;
    const row = (mode: string, r: { total: number; gc: number }): string => {
      const added = r.total - r.gc - plainWork;
      return `| ${target} | ${mode} | ${Math.round(r.total - r.gc)} | ${Math.round(added)} (${((100 * added) / plainWork).toFixed(1)} %) | ${Math.round(r.gc)} |`;
    };
    console.log(row('plain', plain));
    console.log(row('agent', agent));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

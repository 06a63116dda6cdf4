/**
 * Startup, memory and exit of the preload, with and without the OpenTelemetry
 * SDK Baldur starts, against bare Node and the official
 * `@opentelemetry/auto-instrumentations-node/register`, all measured in the
 * same run (hyperfine, several interleaved invocations; medians):
 *
 * - startup: `node [preload] -e "setImmediate(() => process.exit(0))"` — the
 *   user code has run and the first event-loop turn is done, which is when
 *   Baldur's SDK has started (it starts right after the main module's
 *   synchronous code, so that an SDK the application registers first is seen);
 * - RSS 500 ms after start, after `gc()`;
 * - exit with no collector reachable: a script that serves and makes one HTTP
 *   request and one retried protected call, then ends on its own, so the exit
 *   flush runs against an endpoint nobody listens on — total run time, and the
 *   time from `beforeExit` to `exit` alone.
 *
 * Needs `hyperfine` for startup and exit (skipped with a note without it).
 * Run through `npm run bench -- startup`, or alone: `node build/bench/startup.js`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './lib/stats';

const REPO = join(__dirname, '../..');
const REGISTER = join(REPO, 'build/src/register.js');
const INDEX = join(REPO, 'build/src/index.js');
const NOBODY = 'http://127.0.0.1:9';

export interface StartupRow {
  readonly name: string;
  readonly ms: number;
  readonly addedMs: number;
  /** From `beforeExit` to `exit` (exit rows only). */
  readonly exitPhaseMs?: number;
}

export interface RssRow {
  readonly name: string;
  readonly rssMb: number;
  readonly addedMb: number;
  readonly modules: number;
}

export interface StartupResult {
  readonly hyperfine: boolean;
  readonly startup: StartupRow[];
  readonly exit: StartupRow[];
  readonly rss: RssRow[];
}

interface Variant {
  readonly name: string;
  readonly preload: string[];
  readonly env: Record<string, string>;
}

const QUIET = { BALDUR_LOG_LEVEL: 'error' };

/**
 * The environment every measured process starts from: this process's, without the Baldur and
 * OpenTelemetry settings a developer's shell may carry (an exported `BALDUR_OTEL_SDK=off` would
 * silently turn every SDK row into the no-SDK row).
 */
const BASE_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(BALDUR|OTEL)_/.test(key)),
);
const PEER_ENV = {
  OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici,pg,mysql2,ioredis',
  // The default `all` probes cloud metadata endpoints off this machine.
  OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance,container',
  OTEL_EXPORTER_OTLP_ENDPOINT: NOBODY,
};

const VARIANTS: Variant[] = [
  { name: 'bare node', preload: [], env: {} },
  {
    name: 'baldur/register, no SDK (BALDUR_OTEL_SDK=off)',
    preload: ['--require', REGISTER],
    env: { ...QUIET, BALDUR_OTEL_SDK: 'off' },
  },
  {
    name: 'baldur/register + SDK, metrics only (OTEL_TRACES_EXPORTER=none)',
    preload: ['--require', REGISTER],
    env: { ...QUIET, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: NOBODY },
  },
  {
    name: 'baldur/register + SDK, traces + metrics + client spans (defaults)',
    preload: ['--require', REGISTER],
    env: { ...QUIET, OTEL_EXPORTER_OTLP_ENDPOINT: NOBODY },
  },
  {
    name: 'auto-instrumentations-node/register (http,undici,pg,mysql2,ioredis)',
    preload: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
    env: PEER_ENV,
  },
];

function hasHyperfine(): boolean {
  return spawnSync('hyperfine', ['--version']).status === 0;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function commandLine(variant: Variant, args: string[]): string {
  const env = Object.entries(variant.env).map(([key, value]) => `${key}=${value}`);
  return ['env', ...env, process.execPath, ...variant.preload, ...args].map(shellQuote).join(' ');
}

/** Median (over `rounds` hyperfine invocations) of each command's median, in ms. */
function hyperfine(commands: string[], runs: number, rounds: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'baldur-startup-'));
  const perRound: number[][] = commands.map(() => []);
  try {
    for (let round = 0; round < rounds; round++) {
      const out = join(dir, `round-${round}.json`);
      execFileSync(
        'hyperfine',
        ['-N', '--warmup', '2', '--runs', String(runs), '--export-json', out, ...commands],
        { cwd: REPO, env: BASE_ENV, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const { results } = JSON.parse(readFileSync(out, 'utf8')) as {
        results: { median: number }[];
      };
      results.forEach((r, i) => perRound[i]!.push(r.median * 1000));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return perRound.map(values => median(values));
}

/**
 * Median time from `beforeExit` to `exit` — the flush on the way out — measured by a preload
 * registered ahead of everything else.
 */
function exitPhase(variant: Variant, script: string, samples: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'baldur-exit-'));
  const timer = join(dir, 'exit-timer.cjs');
  writeFileSync(
    timer,
    "let t; process.once('beforeExit', () => { t = performance.now(); }); process.on('exit', () => { process.stderr.write('EXIT_PHASE ' + (t === undefined ? -1 : performance.now() - t) + '\\n'); });",
  );
  const values: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const result = spawnSync(
        process.execPath,
        ['--require', timer, ...variant.preload, '-e', script],
        { cwd: REPO, env: { ...BASE_ENV, ...variant.env }, encoding: 'utf8', timeout: 60_000 },
      );
      const match = /EXIT_PHASE (\S+)/.exec(result.stderr);
      if (match !== null) values.push(Number(match[1]));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return median(values);
}

function rss(variant: Variant, samples: number): { rssMb: number; modules: number } {
  const probe =
    'setTimeout(() => { gc(); gc(); process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss, modules: Object.keys(require.cache).length })); process.exit(0); }, 500)';
  const values: number[] = [];
  let modules = 0;
  for (let i = 0; i < samples; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', ...variant.preload, '-e', probe], {
      cwd: REPO,
      env: { ...BASE_ENV, ...variant.env },
      encoding: 'utf8',
    });
    const parsed = JSON.parse(out) as { rss: number; modules: number };
    values.push(parsed.rss / 1024 / 1024);
    modules = parsed.modules;
  }
  return { rssMb: median(values), modules };
}

export function runStartup(rounds = 3, runs = 10): StartupResult {
  const rssRows: RssRow[] = [];
  for (const variant of VARIANTS) {
    const { rssMb, modules } = rss(variant, 5);
    rssRows.push({
      name: variant.name,
      rssMb,
      addedMb: rssMb - (rssRows[0]?.rssMb ?? rssMb),
      modules,
    });
  }
  if (!hasHyperfine()) return { hyperfine: false, startup: [], exit: [], rss: rssRows };

  const startupMs = hyperfine(
    VARIANTS.map(v => commandLine(v, ['-e', 'setImmediate(() => process.exit(0))'])),
    runs,
    rounds,
  );
  const startup = VARIANTS.map((v, i) => ({
    name: v.name,
    ms: startupMs[i]!,
    addedMs: startupMs[i]! - startupMs[0]!,
  }));

  // The script serves and makes one HTTP request (client and server spans for an SDK that traces
  // HTTP) and one protected call that is retried (a `baldur` span), then ends by itself: its exit
  // flush has spans and metrics to send to an endpoint nobody listens on.
  const script = [
    `const http = require('node:http'); const { protect } = require(${JSON.stringify(INDEX)});`,
    `let n = 0; protect('exit-bench', async () => { if (n++ === 0) throw new Error('transient'); return 1; }, { retry: { maxAttempts: 2, baseDelay: 1 } })();`,
    `const server = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', () =>`,
    `  http.get('http://127.0.0.1:' + server.address().port, res => { res.resume(); res.on('end', () => server.close()); }));`,
  ].join(' ');
  const exitVariants = [VARIANTS[0]!, VARIANTS[1]!, VARIANTS[3]!];
  const peer = VARIANTS[4]!;
  const exitMs = hyperfine(
    exitVariants.map(v => commandLine(v, ['-e', script])),
    runs,
    rounds,
  );
  // The peer takes about 9 s per run here: fewer runs.
  const [peerMs] = hyperfine([commandLine(peer, ['-e', script])], 3, 1);
  exitVariants.push(peer);
  exitMs.push(peerMs!);
  const phaseMs = exitVariants.map(v => exitPhase(v, script, v === peer ? 3 : 7));
  const exit = exitVariants.map((v, i) => ({
    name: v.name,
    ms: exitMs[i]!,
    addedMs: exitMs[i]! - exitMs[0]!,
    exitPhaseMs: phaseMs[i]!,
  }));
  return { hyperfine: true, startup, exit, rss: rssRows };
}

if (require.main === module) {
  console.log(JSON.stringify(runStartup(Number(process.argv[2] ?? 3))));
}

/**
 * `npm run bench`: every suite in its own fresh process, results printed as
 * Markdown tables (the README quotes them). Select suites by name:
 * `npm run bench -- micro memory`. Figures are medians of several rounds, and
 * every peer is measured in the same run as Baldur.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runSuite } from './lib/child';
import { fmt } from './lib/stats';
import { markdownTable } from './lib/table';
import { pinningNote, runClients } from './clients';
import { FLEET_SUITES } from './fleet-suites';
import type { MicroResult } from './micro';
import { MEMORY_VARIANTS, type MemoryRow } from './memory';
import type { StartupResult } from './startup';
import type { TelemetryResult } from './telemetry';

interface Suite {
  readonly name: string;
  readonly run: () => Promise<string>;
}

const here = __dirname;

const SUITES: Suite[] = [
  {
    name: 'micro',
    run: async () => {
      const result = await runSuite<MicroResult>(join(here, 'micro.js'), ['15'], ['--expose-gc']);
      const rows = result.variants.map(v => [
        v.name,
        fmt(v.nsPerOp),
        fmt(v.addedNs),
        `${fmt(v.ratio, 2)}x`,
      ]);
      const four = result.variants.find(v => v.name.endsWith('+timeout'))!;
      return [
        `### Per-call overhead around \`async () => 1\` (${result.rounds} shuffled rounds, medians)`,
        '',
        markdownTable(['variant', 'ns/op', 'added ns', 'ratio to baseline'], rows),
        '',
        `Four-policy pipeline adds ${fmt(four.addedNs)} ns per call (budget: ≤ 300 ns).`,
      ].join('\n');
    },
  },
  {
    name: 'memory',
    run: async () => {
      const rows: string[][] = [];
      for (const variant of MEMORY_VARIANTS) {
        const row = await runSuite<MemoryRow>(join(here, 'memory.js'), [variant], ['--expose-gc']);
        rows.push([
          row.name,
          fmt(row.bytesPerKey),
          fmt(row.bytesPerKeyAfterCall),
          fmt(row.mbPer10k, 2),
          String(row.timersCreated),
        ]);
      }
      return [
        '### Heap per 10,000 dependency breakers',
        '',
        markdownTable(
          [
            'implementation',
            'bytes/key',
            'bytes/key after one call',
            'MB per 10k',
            'timers created',
          ],
          rows,
        ),
      ].join('\n');
    },
  },
  {
    name: 'clients',
    run: async () => {
      const quick = process.argv.includes('--quick');
      const pin = !process.argv.includes('--unpinned');
      const rows = await runClients(
        // More short rounds rather than a few long ones: a noisy neighbour then spoils a round, not the median.
        quick ? 2 : 9,
        quick ? 3_000 : 5_000,
        ['http', 'pg', 'ioredis'],
        pin,
      );
      return [
        `### Client throughput under the agent (closed loop, ${quick ? '2 rounds × 3 s' : '9 rounds × 5 s'} per mode, no tracing)`,
        '',
        `${pinningNote(pin)}; PostgreSQL and Redis run where the scheduler puts them.`,
        '',
        markdownTable(
          [
            'client',
            'mode',
            'ops/s',
            'ratio to plain (min..max)',
            'best round vs best round',
            'p99 µs',
            'client CPU µs/op',
            'errors',
          ],
          rows.map(r => [
            r.target,
            r.mode,
            fmt(r.opsPerSecond),
            `${fmt(r.ratio, 3)} (${fmt(r.ratioMin, 2)}..${fmt(r.ratioMax, 2)})`,
            fmt(r.bestRatio, 3),
            fmt(r.p99Us),
            fmt(r.cpuUsPerOp, 1),
            String(r.errors),
          ]),
        ),
      ].join('\n');
    },
  },
  {
    name: 'telemetry',
    run: async () => {
      const metrics = await runSuite<TelemetryResult>(
        join(here, 'telemetry.js'),
        ['metrics', '15', 'isolated', '5'],
        ['--expose-gc'],
      );
      const tracing = await runSuite<TelemetryResult>(
        join(here, 'telemetry.js'),
        ['tracing', '15', 'isolated', '5'],
        ['--expose-gc'],
      );
      const table = (result: TelemetryResult): string =>
        markdownTable(
          ['variant', 'ns/op', 'added ns', 'ratio to baseline'],
          result.variants.map(v => [v.name, fmt(v.nsPerOp), fmt(v.addedNs), `${fmt(v.ratio, 2)}x`]),
        );
      const added = (result: TelemetryResult, prefix: string): number =>
        result.variants.find(v => v.name.startsWith(prefix))?.addedNs ?? NaN;
      const collect = metrics.collectUs;
      return [
        `### Metrics on the hot path: breaker + retry + bulkhead + timeout around \`async () => 1\` (each variant in ${metrics.processes ?? 1} fresh processes × ${metrics.rounds} rounds next to the baseline; medians)`,
        '',
        table(metrics),
        '',
        `With Baldur's metrics on a real MeterProvider the pipeline adds ${fmt(added(metrics, "pipeline + Baldur's"))} ns per call (budget: ≤ 1 µs); one \`counter.add\` alone costs ${fmt(added(metrics, 'counter.add per call'))} ns.` +
          (collect === undefined
            ? ''
            : ` A collection costs ${fmt(collect.one)} µs for one dependency and ${fmt(collect.many / 1000, 1)} ms for ${collect.pipelines}.`),
        '',
        `### Tracing on a failing path (every call fails once, then succeeds on its retry; ${tracing.processes ?? 1} processes × ${tracing.rounds} rounds per variant)`,
        '',
        table(tracing),
      ].join('\n');
    },
  },
  {
    name: 'startup',
    run: async () => {
      const result = await runSuite<StartupResult>(join(here, 'startup.js'), ['3']);
      const rows = (list: StartupResult['startup']): string =>
        markdownTable(
          ['preload', 'ms (median)', 'added ms'],
          list.map(r => [r.name, fmt(r.ms, 1), fmt(r.addedMs, 1)]),
        );
      return [
        '### Startup to user code, with the SDK started (`-e "setImmediate(() => process.exit(0))"`, hyperfine, median of 3 × 10 runs)',
        '',
        result.hyperfine ? rows(result.startup) : '(hyperfine not installed)',
        '',
        '### RSS 500 ms after start, after gc (median of 5 processes)',
        '',
        markdownTable(
          ['preload', 'RSS MB', 'added MB', 'modules loaded'],
          result.rss.map(r => [r.name, fmt(r.rssMb, 1), fmt(r.addedMb, 1), String(r.modules)]),
        ),
        '',
        '### Exit with no collector reachable (a script with an HTTP request and a retried call ends by itself)',
        '',
        result.hyperfine
          ? markdownTable(
              ['preload', 'run ms (median)', 'added ms', 'beforeExit → exit ms'],
              result.exit.map(r => [
                r.name,
                fmt(r.ms, 1),
                fmt(r.addedMs, 1),
                fmt(r.exitPhaseMs ?? NaN, 1),
              ]),
            )
          : '(hyperfine not installed)',
      ].join('\n');
    },
  },
  ...FLEET_SUITES,
];

/** Replace the `<!-- bench:NAME -->` block of the README with fresh output. */
function writeToReadme(name: string, body: string, header: string): void {
  const path = join(here, '../../README.md');
  const readme = readFileSync(path, 'utf8');
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const start = readme.indexOf(begin);
  const stop = readme.indexOf(end);
  if (start === -1 || stop === -1) {
    console.error(`[bench] README has no ${begin} block; not written`);
    return;
  }
  writeFileSync(
    path,
    `${readme.slice(0, start + begin.length)}\n${header}\n\n${body}\n${readme.slice(stop)}`,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const readme = args.includes('--readme');
  const selected = args.filter(a => !a.startsWith('--'));
  const suites = selected.length === 0 ? SUITES : SUITES.filter(s => selected.includes(s.name));
  if (suites.length === 0)
    throw new Error(`no such suite; choose from ${SUITES.map(s => s.name).join(', ')}`);
  const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
  console.log(`# Baldur benchmarks — ${machine}\n`);
  for (const suite of suites) {
    console.error(`[bench] running ${suite.name} …`);
    const body = await suite.run();
    console.log(`${body}\n`);
    if (readme)
      writeToReadme(
        suite.name,
        body,
        `_${machine}; \`npm run bench -- ${suite.name}\`, ${new Date().toISOString().slice(0, 10)}._`,
      );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

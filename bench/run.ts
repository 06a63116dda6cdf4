/**
 * `npm run bench`: every suite in its own fresh process, results printed as
 * Markdown tables (the README quotes them). Select suites by name:
 * `npm run bench -- micro memory`. Figures are medians of several rounds, and
 * every peer is measured in the same run as Baldur.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runSuite } from './lib/child';
import { fmt } from './lib/stats';
import { markdownTable } from './lib/table';
import type { MicroResult } from './micro';
import { MEMORY_VARIANTS, type MemoryRow } from './memory';

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
];

async function main(): Promise<void> {
  const selected = process.argv.slice(2);
  const suites = selected.length === 0 ? SUITES : SUITES.filter(s => selected.includes(s.name));
  if (suites.length === 0)
    throw new Error(`no such suite; choose from ${SUITES.map(s => s.name).join(', ')}`);
  console.log(
    `# Baldur benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}\n`,
  );
  for (const suite of suites) {
    console.error(`[bench] running ${suite.name} …`);
    console.log(`${await suite.run()}\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivatePostgres } from '../sql/private-postgres';
import {
  CountingUpstream,
  Fleet,
  capturedDeadLetters,
  httpKey,
  missingDeadLetters,
  report,
  sleep,
  startLoad,
  stopLoad,
  uniquePrefix,
} from './harness';
import { HANG_MS, STORE_TIMEOUT_MS, fleetConfig } from './scenarios';

/**
 * The outage contract on a private PostgreSQL (initdb + pg_ctl in a temp
 * directory; the shared server is never touched): the server stops
 * (immediate shutdown, like a crash) and restarts mid-load.
 */
const unavailable = PrivatePostgres.unavailableReason();
if (unavailable !== undefined) console.warn(`[skip] private PostgreSQL: ${unavailable}`);

describe.runIf(unavailable === undefined)('fleet outage contract on a private PostgreSQL', () => {
  const guarded = new CountingUpstream();
  const limited = new CountingUpstream();
  let postgres: PrivatePostgres;
  let fleet: Fleet | undefined;

  beforeAll(async () => {
    await guarded.start();
    await limited.start();
    postgres = await PrivatePostgres.create();
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await postgres?.destroy();
    await guarded.stop();
    await limited.stop();
  });

  it('PostgreSQL restarted mid-load: no hang, no crash, state resynced, no dead letter lost', async () => {
    fleet = await Fleet.start({
      backend: { name: 'postgresql', env: { BALDUR_SQL_DSN: postgres.dsn } },
      size: 3,
      prefix: uniquePrefix('pgchaos'),
      config: fleetConfig(guarded.port, limited.port),
      env: { BALDUR_STORE_TIMEOUT: `${STORE_TIMEOUT_MS}ms` },
    });
    const f = fleet;
    const key = httpKey(guarded.port);
    for (const worker of f.workers)
      expect((await worker.ask({ cmd: 'call', url: guarded.url }, 'called')).outcome).toBe('ok');
    await f.warm();
    const loads = startLoad(f, [guarded.url, limited.url]);
    await sleep(1_000);

    await postgres.stop('immediate');
    guarded.mode = 'reset';
    await sleep(1_500);
    guarded.mode = 'ok';
    f.workers[2]!.send({ cmd: 'force-open', dependency: key, ttlMs: 120_000 });
    await sleep(500);
    const capturedDuringOutage = capturedDeadLetters(f).length;
    await postgres.start();

    await f.until(
      'every worker adopted the forced state made during the outage',
      w => w.state(key) === 'forced_open',
      30_000,
    );
    const results = await stopLoad(loads);
    const maxMs = Math.max(...results.map(r => r.maxMs as number));
    report('postgres restart: slowest call (ms)', maxMs);
    report(
      'postgres restart: outcomes',
      results.map(r => r.outcomes),
    );
    expect(maxMs).toBeLessThan(HANG_MS);
    expect(capturedDuringOutage).toBeGreaterThan(0);

    const captured = capturedDeadLetters(f);
    expect(await missingDeadLetters(f.workers[0]!, captured)).toEqual([]);
    for (const worker of [...f.workers]) expect(await worker.exit()).toBe(0);
    const fresh = await f.add();
    expect(await missingDeadLetters(fresh, captured)).toEqual([]);
    expect(f.workers.filter(w => w.crashed)).toEqual([]);
  }, 180_000);
});

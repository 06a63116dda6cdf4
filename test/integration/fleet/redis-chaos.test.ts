import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalSentinel, RedisServer, cli } from '../redis/servers';
import { serviceAvailable } from '../../support/services';
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
  type Backend,
} from './harness';
import { BREAKER, HANG_MS, STORE_TIMEOUT_MS, fleetConfig } from './scenarios';

/**
 * The outage contract on private Redis servers (never the shared one): a
 * fleet of workers under load while Redis is killed and restarted, paused
 * (SIGSTOP) and resumed, and while a Sentinel fails the primary over. No
 * call may hang beyond its budget, no worker may crash, state made during
 * the outage must reach every worker after it, and no dead letter may be
 * lost — also across an app restart.
 */
let hasRedis = false;

describe('fleet on private Redis servers', async () => {
  // The private servers need redis-server; the shared one answering says it is installed.
  hasRedis = await serviceAvailable('redis');
  describe.runIf(hasRedis)('outage contract', outageSuite);
  describe.runIf(hasRedis)('Sentinel (1 sentinel, primary + replica)', sentinelSuite);
});

function outageSuite(): void {
  const guarded = new CountingUpstream();
  const limited = new CountingUpstream();
  let redis: RedisServer;
  let fleet: Fleet | undefined;

  beforeAll(async () => {
    await guarded.start();
    await limited.start();
    // Persistence on, so that what was written before a SIGKILL is there after the restart.
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  }, 60_000);

  afterEach(async () => {
    redis.resume();
    await fleet?.stop();
    fleet = undefined;
    guarded.mode = 'ok';
  });

  afterAll(async () => {
    await redis?.stop();
    await guarded.stop();
    await limited.stop();
  });

  function backend(): Backend {
    return { name: 'redis', env: { BALDUR_REDIS_URL: `redis://127.0.0.1:${redis.port}` } };
  }

  async function startFleet(size: number): Promise<Fleet> {
    fleet = await Fleet.start({
      backend: backend(),
      size,
      prefix: uniquePrefix('chaos'),
      config: fleetConfig(guarded.port, limited.port),
      env: { BALDUR_STORE_TIMEOUT: `${STORE_TIMEOUT_MS}ms` },
    });
    for (const worker of fleet.workers)
      expect((await worker.ask({ cmd: 'call', url: guarded.url }, 'called')).outcome).toBe('ok');
    return fleet;
  }

  it('Redis killed and restarted mid-load: no hang, no crash, state resynced, no dead letter lost', async () => {
    const f = await startFleet(3);
    const key = httpKey(guarded.port);
    const loads = startLoad(f, [guarded.url, limited.url]);
    await sleep(1_000);

    await redis.kill();
    // During the outage: failures open breakers locally and are captured as dead letters,
    // an operator forces the breaker open on one worker and engages the kill switch on another.
    guarded.mode = 'reset';
    await sleep(1_500);
    guarded.mode = 'ok';
    expect((await f.workers[0]!.ask({ cmd: 'status' }, 'status')).status).toBeDefined();
    f.workers[0]!.send({ cmd: 'force-open', dependency: key, ttlMs: 120_000 });
    f.workers[1]!.send({ cmd: 'kill-switch', engaged: true, reason: 'during the outage' });
    await sleep(1_000);
    const capturedDuringOutage = capturedDeadLetters(f).length;

    await redis.launch(); // same port, same data directory: the AOF is replayed
    await f.until(
      'every worker adopted the forced state made during the outage',
      w => w.state(key) === 'forced_open',
      20_000,
    );
    await f.until('every worker has the kill switch engaged', w =>
      w.messages('control').some(m => m.killSwitch === true),
    );
    const results = await stopLoad(loads);
    const maxMs = Math.max(...results.map(r => r.maxMs as number));
    report('redis kill/restart: slowest call (ms)', maxMs);
    report(
      'redis kill/restart: outcomes',
      results.map(r => r.outcomes),
    );
    expect(maxMs).toBeLessThan(HANG_MS);
    expect(capturedDuringOutage).toBeGreaterThan(0);

    const captured = capturedDeadLetters(f);
    report('redis kill/restart: dead letters captured (during the outage)', {
      total: captured.length,
      duringOutage: capturedDuringOutage,
    });
    expect(await missingDeadLetters(f.workers[2]!, captured)).toEqual([]);
    // Every worker restarts: the dead letters are still there.
    for (const worker of [...f.workers]) expect(await worker.exit()).toBe(0);
    const fresh = await f.add();
    expect(await missingDeadLetters(fresh, captured)).toEqual([]);
    expect(f.workers.filter(w => w.crashed)).toEqual([]);
  }, 120_000);

  it('Redis paused (SIGSTOP) mid-load: calls stay within budget, sharing resumes after SIGCONT', async () => {
    const f = await startFleet(3);
    const key = httpKey(guarded.port);
    const loads = startLoad(f, [limited.url, guarded.url]);
    await sleep(800);
    redis.pause();
    guarded.mode = 'reset';
    await sleep(1_000);
    guarded.mode = 'ok';
    await sleep(2_000);
    redis.resume();
    await sleep(2_500); // the store's breaker probes once a second
    const results = await stopLoad(loads);
    const maxMs = Math.max(...results.map(r => r.maxMs as number));
    report('redis SIGSTOP: slowest call (ms)', maxMs);
    expect(maxMs).toBeLessThan(HANG_MS);

    // Sharing works again: one worker's failures open the breaker everywhere.
    await f.until('every breaker is closed again', w => w.state(key) === 'closed', 20_000);
    guarded.mode = 'reset';
    const first = f.workers[0]!;
    for (let i = 0; i < BREAKER.failureThreshold; i++)
      await first.ask({ cmd: 'call', url: guarded.url }, 'called');
    await f.until('every worker is open', w => w.state(key) === 'open');
    guarded.mode = 'ok';

    expect(await missingDeadLetters(f.workers[1]!, capturedDeadLetters(f))).toEqual([]);
    expect(f.workers.filter(w => w.crashed)).toEqual([]);
  }, 120_000);
}

function sentinelSuite(): void {
  const guarded = new CountingUpstream();
  const limited = new CountingUpstream();
  let sentinel: LocalSentinel;
  let fleet: Fleet | undefined;

  beforeAll(async () => {
    await guarded.start();
    await limited.start();
    sentinel = await LocalSentinel.start();
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    await sentinel?.stop();
    await guarded.stop();
    await limited.stop();
  });

  it('a failover mid-load keeps the shared state working', async () => {
    fleet = await Fleet.start({
      backend: { name: 'sentinel', env: { BALDUR_REDIS_URL: sentinel.url } },
      size: 3,
      prefix: uniquePrefix('sentinel'),
      config: fleetConfig(guarded.port, limited.port),
      env: { BALDUR_STORE_TIMEOUT: `${STORE_TIMEOUT_MS}ms` },
    });
    const key = httpKey(guarded.port);
    for (const worker of fleet.workers)
      expect((await worker.ask({ cmd: 'call', url: guarded.url }, 'called')).outcome).toBe('ok');
    const before = await sentinel.masterPort();
    const loads = startLoad(fleet, [limited.url, guarded.url]);
    await sleep(800);
    // Fail over: the primary dies, the sentinel promotes the replica.
    const primary = before === sentinel.primary.port ? sentinel.primary : sentinel.replica;
    await primary.kill();
    const deadline = Date.now() + 30_000;
    while ((await sentinel.masterPort()) === before && Date.now() < deadline) await sleep(200);
    const after = await sentinel.masterPort();
    expect(after).not.toBe(before);
    expect(await cli(after, ['role'])).toMatch(/^master/);
    await sleep(2_500); // clients rediscover the primary; the store's breaker probes once a second
    const results = await stopLoad(loads);
    const maxMs = Math.max(...results.map(r => r.maxMs as number));
    report('sentinel failover: slowest call (ms)', maxMs);
    expect(maxMs).toBeLessThan(HANG_MS);

    // Shared state on the new primary: a breaker opened by one worker opens on every worker.
    await fleet.until('every breaker is closed', w => w.state(key) === 'closed', 20_000);
    guarded.mode = 'reset';
    const sinceMs = Date.now();
    for (let i = 0; i < BREAKER.failureThreshold; i++)
      await fleet.workers[2]!.ask({ cmd: 'call', url: guarded.url }, 'called');
    await fleet.until('every worker is open after the failover', w => w.state(key) === 'open');
    const opened = fleet.workers
      .flatMap(w => w.transitions(key))
      .filter(t => t.to === 'open' && (t.atWallMs as number) >= sinceMs);
    report(
      'sentinel: open transitions after failover',
      opened.map(t => t.reason),
    );
    guarded.mode = 'ok';
    // The kill switch too.
    fleet.workers[0]!.send({ cmd: 'kill-switch', engaged: true, reason: 'after failover' });
    await fleet.until('every worker has the kill switch engaged', w =>
      w.messages('control').some(m => m.killSwitch === true && m.reason === 'after failover'),
    );
    expect(fleet.workers.filter(w => w.crashed)).toEqual([]);
  }, 120_000);
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable, type ServiceName } from '../../support/services';
import {
  CountingUpstream,
  Fleet,
  httpKey,
  median,
  report,
  sleep,
  uniquePrefix,
  type Backend,
  type Message,
} from './harness';

export const BREAKER = {
  failureThreshold: 5,
  failureRateThreshold: 0,
  recoveryTimeout: '1s',
  halfOpenMaxCalls: 2,
  successThreshold: 2,
};
export const RATE_LIMIT = { limit: 200, per: '1s', burst: 20 };
/** The store budget of the outage suites; a call slower than HANG_MS has hung. */
export const STORE_TIMEOUT_MS = 200;
export const HANG_MS = 2_000;

/** The config file every worker of a suite reads. */
export function fleetConfig(breakerPort: number, limitedPort: number): Message {
  return {
    defaults: { retry: false, circuitBreaker: false },
    dependencies: [
      {
        match: { system: 'http', host: '127.0.0.1', port: breakerPort },
        circuitBreaker: BREAKER,
        deadLetter: true,
      },
      {
        match: { system: 'http', host: '127.0.0.1', port: limitedPort },
        rateLimit: RATE_LIMIT,
      },
    ],
    store: { reconcileInterval: '1s', snapshotInterval: '2s' },
  };
}

/** The delay between a local transition on one worker and every peer applying it (ms). */
function propagationDelays(
  fleet: Fleet,
  dependency: string,
  to: string,
  sinceMs: number,
): number[] {
  const local = fleet.live
    .flatMap(w => w.transitions(dependency))
    .find(t => t.to === to && t.reason !== 'remote' && (t.atWallMs as number) >= sinceMs);
  if (local === undefined) return [];
  return fleet.live
    .flatMap(w => w.transitions(dependency))
    .filter(t => t.to === to && t.reason === 'remote' && (t.atWallMs as number) >= sinceMs)
    .map(t => (t.atWallMs as number) - (local.atWallMs as number));
}

/**
 * The fleet contract on one backend, with 4 real worker processes: breakers
 * open and close everywhere (propagation measured, not asserted), half-open
 * probes are exact fleet-wide, a shared rate limit admits within 1 % of its
 * allowance, the kill switch propagates, dead letters are visible to every
 * instance and survive a restart, and every instance's snapshot is listed.
 */
export function describeFleet(backend: Backend, service: ServiceName): void {
  describe(`fleet of 4 workers on ${backend.name}`, async () => {
    const available = await serviceAvailable(service);
    describe.runIf(available)('(real server)', () => {
      fleetSuite(backend);
    });
  });
}

function fleetSuite(backend: Backend): void {
  const guarded = new CountingUpstream();
  const limited = new CountingUpstream();
  let fleet: Fleet;
  let breakerKey: string;
  const captured = new Set<string>();

  beforeAll(async () => {
    await guarded.start();
    await limited.start();
    breakerKey = httpKey(guarded.port);
    fleet = await Fleet.start({
      backend,
      size: 4,
      prefix: uniquePrefix(backend.name.slice(0, 5)),
      config: fleetConfig(guarded.port, limited.port),
    });
    // One call each creates the dependency's pipeline on every worker.
    for (const worker of fleet.workers) {
      expect((await worker.ask({ cmd: 'call', url: guarded.url }, 'called')).outcome).toBe('ok');
    }
    await fleet.warm();
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    await guarded.stop();
    await limited.stop();
  });

  it("one worker's failures open the breaker on every worker", async () => {
    const sinceMs = Date.now();
    guarded.mode = 'reset';
    const first = fleet.workers[0]!;
    for (let i = 0; i < BREAKER.failureThreshold; i++) {
      const { outcome } = await first.ask({ cmd: 'call', url: guarded.url }, 'called');
      expect(outcome).toMatch(/^error:/);
    }
    await fleet.until('every worker is open', w => w.state(breakerKey) === 'open');
    const delays = propagationDelays(fleet, breakerKey, 'open', sinceMs);
    expect(delays).toHaveLength(3);
    report(`${backend.name}: open propagation delay to 3 peers (ms)`, {
      delays,
      median: median(delays),
      max: Math.max(...delays),
    });
    // A peer rejects without calling the upstream.
    const before = guarded.arrivals.length;
    expect((await fleet.workers[3]!.ask({ cmd: 'call', url: guarded.url }, 'called')).outcome).toBe(
      'BALDUR_CIRCUIT_OPEN',
    );
    expect(guarded.arrivals.length).toBe(before);
  });

  it('half-open probes are exact across the fleet, and recovery closes every worker', async () => {
    // Traffic on every worker while the breaker is open; the upstream is back but slow,
    // so that probes overlap.
    guarded.mode = { okAfterMs: 300 };
    const switchedAtMs = Date.now();
    const runs = fleet.workers.map(w => {
      const id = `probe-${w.index}`;
      w.send({ cmd: 'run', id, url: guarded.url, concurrency: 2, pauseMs: 5 });
      return id;
    });
    await fleet.until('every worker is closed', w => w.state(breakerKey) === 'closed', 20_000);
    await Promise.all(fleet.workers.map((w, i) => w.ask({ cmd: 'stop', run: runs[i] }, 'stopped')));
    const closes = fleet.workers
      .flatMap(w => w.transitions(breakerKey))
      .filter(t => t.to === 'closed' && (t.atWallMs as number) >= switchedAtMs);
    const firstClose = Math.min(...closes.map(t => t.atWallMs as number));
    const probes = guarded.between(switchedAtMs, firstClose);
    report(
      `${backend.name}: probes that reached the upstream (halfOpenMaxCalls ${BREAKER.halfOpenMaxCalls})`,
      probes,
    );
    expect(probes).toBeGreaterThanOrEqual(1);
    expect(probes).toBeLessThanOrEqual(BREAKER.halfOpenMaxCalls);
    const delays = propagationDelays(fleet, breakerKey, 'closed', switchedAtMs);
    report(`${backend.name}: close propagation delay to peers (ms)`, {
      delays,
      median: median(delays),
    });
    guarded.mode = 'ok';
  }, 40_000);

  it('a shared rate limit admits within 1 % of its allowance under load from every worker', async () => {
    const startedAtMs = Date.now();
    const runs = fleet.workers.map(w => {
      const id = `limit-${w.index}`;
      w.send({ cmd: 'run', id, url: limited.url, concurrency: 4, pauseMs: 0 });
      return id;
    });
    await sleep(3_000);
    const results = await Promise.all(
      fleet.workers.map((w, i) => w.ask({ cmd: 'stop', run: runs[i] }, 'stopped')),
    );
    const stoppedAtMs = Date.now();
    // Exactness is the contract while the store is available (an outage falls back to
    // store.rateLimitFallback by design): the store must have stayed available on every
    // worker for the whole run, or this test would measure the degraded path instead.
    for (const worker of fleet.workers) {
      const status = (await worker.ask({ cmd: 'status' }, 'status')).status as {
        store: { health?: { available: boolean; sinceWallMs: number } };
      };
      expect(status.store.health?.available).toBe(true);
      expect(status.store.health?.sinceWallMs).toBeLessThanOrEqual(startedAtMs);
    }
    const admitted = limited.between(startedAtMs, stoppedAtMs + 1);
    const allowance = RATE_LIMIT.burst + (RATE_LIMIT.limit * (stoppedAtMs - startedAtMs)) / 1_000;
    const decisions = results.reduce((sum, r) => sum + (r.calls as number), 0);
    const rejected = results.reduce(
      (sum, r) => sum + ((r.outcomes as Record<string, number>).BALDUR_RATE_LIMITED ?? 0),
      0,
    );
    report(`${backend.name}: shared rate limit`, {
      admitted,
      allowance: Math.round(allowance),
      ratio: +(admitted / allowance).toFixed(4),
      decisions,
      rejected,
      other: results.map(r => r.outcomes),
    });
    expect(admitted).toBeLessThanOrEqual(allowance * 1.01);
    expect(admitted).toBeGreaterThan(allowance * 0.5);
  }, 30_000);

  it('the kill switch applies on every worker', async () => {
    const from = fleet.workers.map(w => w.app.messages.length);
    const sentAtMs = Date.now();
    fleet.workers[1]!.send({ cmd: 'kill-switch', engaged: true, reason: 'fleet test' });
    const seen = await Promise.all(
      fleet.workers.map((w, i) =>
        w.waitAfter(from[i]!, m => m.type === 'control' && m.killSwitch === true),
      ),
    );
    report(
      `${backend.name}: kill switch applied after (ms, from the command)`,
      seen.map(m => (m.atWallMs as number) - sentAtMs),
    );
    expect(seen.map(m => m.reason)).toEqual(Array(4).fill('fleet test'));
    fleet.workers[0]!.send({ cmd: 'kill-switch', engaged: false, reason: 'done' });
    await Promise.all(
      fleet.workers.map((w, i) =>
        w.waitAfter(from[i]!, m => m.type === 'control' && m.killSwitch === false),
      ),
    );
  });

  it('dead letters are visible to every instance and survive an app restart', async () => {
    for (const worker of fleet.workers)
      for (const m of worker.messages('dead-letter')) captured.add(m.id as string);
    expect(captured.size).toBeGreaterThanOrEqual(BREAKER.failureThreshold);
    const listed = await fleet.workers[3]!.ask({ cmd: 'dead-letters' }, 'dead-letters');
    expect(listed.error).toBeUndefined();
    expect(listed.ids).toEqual(expect.arrayContaining([...captured]));
    // Restart the worker that captured them: still there, for the new process too.
    expect(await fleet.workers[0]!.exit()).toBe(0);
    const replacement = await fleet.add();
    const again = await replacement.ask({ cmd: 'dead-letters' }, 'dead-letters');
    expect(again.error).toBeUndefined();
    expect(again.ids).toEqual(expect.arrayContaining([...captured]));
  }, 30_000);

  it("every instance's status snapshot is listed", async () => {
    const live = fleet.live;
    await sleep(2_500); // one snapshot period for the replacement
    const answer = await live[0]!.ask({ cmd: 'instances' }, 'instances');
    expect(answer.error).toBeUndefined();
    const instances = answer.instances as { instance: { id: string; pid: number } }[];
    expect(instances.map(s => s.instance.pid).sort()).toEqual(
      live.map(w => w.app.child.pid).sort(),
    );
  });

  it('no worker crashed', () => {
    for (const worker of fleet.workers) {
      const lines = worker.app.stderr.split('\n').filter(l => l.includes('[baldur]'));
      if (lines.length > 0)
        report(`${backend.name}: worker #${worker.index} log`, lines.slice(0, 10));
    }
    expect(fleet.workers.filter(w => w.crashed)).toEqual([]);
  });
}

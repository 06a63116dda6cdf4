import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DASHBOARDS_DIR,
  legendLabels,
  loadDashboards,
  loadRules,
  parseLabelValues,
  queriesOf,
  substitute,
  templateLabels,
  type DashboardQuery,
} from '../../support/dashboards';
import { METRIC_LIST } from '../../../src/names/metrics';
import { prometheusSeries } from '../../../src/names/prometheus';
import { HttpUpstream } from '../../support/http-upstream';
import { startApp, type RunningApp } from '../../support/run-app';
import {
  PrometheusServer,
  findExecutable,
  freePort,
  prometheusAvailable,
  type Sample,
} from './prometheus-server';
import { sleep } from '../../support/wait';

/**
 * SPEC §9: every query of the shipped dashboards and alert rules runs against
 * a real Prometheus scraping real agent processes. Two instances of a fixture
 * app run under the agent with OTEL_METRICS_EXPORTER=prometheus; Prometheus
 * scrapes both every second. Instance A (memory store) drives a scenario:
 *
 * - payments: healthy, then failing (retries, the breaker opens), then
 *   recovered (a half-open probe closes it) — twice; a burst over its rate
 *   limit; slow calls filling its bulkhead; rejected calls as dead letters;
 * - ledger: down for good (its breaker stays open; every rejected call becomes
 *   a dead letter, in batches across scrapes);
 * - search: no breaker, every attempt fails: a retry storm.
 *
 * Instance B calls payments too, with its shared store (Redis) unreachable, so
 * the store panels and BaldurStoreDegraded have data. Then every panel target,
 * annotation and variable query (Grafana variables substituted) and every alert
 * expression must return data; the alerts must fire in Prometheus (from a copy
 * of alerts.yml that differs only in `for: 0s`); promtool must accept the rules.
 */
const hasPrometheus = prometheusAvailable();

const JOB = 'baldur';
const RATE_INTERVAL = '1m';
const DRILL_DOWN_DEPENDENCY = 'payments';

const POLICIES = {
  payments: {
    circuitBreaker: {
      failureThreshold: 3,
      minimumCalls: 100,
      slidingWindowSize: 100,
      recoveryTimeout: '1s',
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    },
    retry: { maxAttempts: 2, baseDelay: '5ms', maxDelay: '50ms', jitter: 0, budget: false },
    timeout: '10s',
    rateLimit: { limit: 20, per: '1s' },
    bulkhead: { maxConcurrent: 2, maxQueue: 1, queueTimeout: '20s' },
    // Answered failures (a 503 response) are the app's to handle; rejections are captured.
    deadLetter: { capture: 'all' },
  },
  ledger: {
    circuitBreaker: {
      failureThreshold: 3,
      minimumCalls: 100,
      slidingWindowSize: 100,
      recoveryTimeout: '10m',
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    },
    retry: { maxAttempts: 2, baseDelay: '5ms', maxDelay: '50ms', jitter: 0, budget: false },
    deadLetter: { capture: 'all' },
  },
  search: {
    circuitBreaker: false,
    retry: { maxAttempts: 3, baseDelay: '1ms', maxDelay: '5ms', jitter: 0, budget: false },
  },
} as const;

type Dependency = keyof typeof POLICIES;

interface BurstResult {
  readonly statuses: Record<string, number>;
  readonly errors: Record<string, number>;
}

/** One agent process serving its metrics on `target`. */
class Agent {
  private next = 0;

  private constructor(
    readonly app: RunningApp,
    readonly target: string,
  ) {}

  static async start(configFile: string, extraEnv: Record<string, string> = {}): Promise<Agent> {
    const port = await freePort();
    const app = startApp({
      app: 'apps/dashboards-app.cjs',
      timeoutMs: 120_000,
      env: {
        BALDUR_OTEL_SDK: 'auto',
        BALDUR_CONFIG_FILE: configFile,
        BALDUR_LOG_LEVEL: 'error',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        ...extraEnv,
      },
    });
    await app.waitFor(m => m.ready === true);
    return new Agent(app, `127.0.0.1:${port}`);
  }

  /** `count` GETs of `url`, `concurrency` at a time. */
  async burst(url: string, count: number, concurrency = 1): Promise<BurstResult> {
    const id = ++this.next;
    this.app.send({ id, op: 'burst', url, count, concurrency });
    const result = await this.app.waitFor(m => m.id === id, 60_000);
    if (result.failed !== undefined) throw new Error(JSON.stringify(result.failed));
    return result as unknown as BurstResult;
  }

  async stop(): Promise<void> {
    this.app.send({ op: 'exit' });
    this.app.child.stdin?.end();
    const timer = setTimeout(() => this.app.child.kill('SIGKILL'), 3_000);
    await this.app.exited;
    clearTimeout(timer);
  }
}

function hasFiniteValue(samples: readonly Sample[]): boolean {
  return samples.some(s => Number.isFinite(s.value));
}

describe.runIf(hasPrometheus)('dashboards and alert rules against a real Prometheus', () => {
  let dir = '';
  const upstreams = {} as Record<Dependency, HttpUpstream>;
  let a: Agent | undefined;
  let b: Agent | undefined;
  let prometheus: PrometheusServer | undefined;
  let instanceA = '';
  let instanceB = '';
  const url = (dependency: Dependency, path = '/'): string => `${upstreams[dependency].url}${path}`;

  /** Wait until Prometheus has scraped a state in which `expr` returns a sample. */
  const scraped = (what: string, expr: string): Promise<void> =>
    prometheus!.until(what, async () => (await prometheus!.query(expr)).length > 0);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baldur-dashboards-'));
    for (const name of Object.keys(POLICIES) as Dependency[])
      upstreams[name] = await new HttpUpstream().start();
    const configFile = join(dir, 'baldur.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        version: 1,
        dependencies: (Object.keys(POLICIES) as Dependency[]).map(name => ({
          match: { system: 'http', host: '127.0.0.1', port: upstreams[name].port },
          name,
          ...POLICIES[name],
        })),
      }),
    );
    // Instance B's shared store is down for the whole run (nothing listens on that port).
    const deadStore = `redis://127.0.0.1:${await freePort()}/0`;
    [a, b] = await Promise.all([
      Agent.start(configFile),
      Agent.start(configFile, { BALDUR_REDIS_URL: deadStore }),
    ]);
    instanceA = a.target;
    instanceB = b.target;

    // The rules as shipped, except that alerts fire at once instead of after minutes.
    const rules = join(dir, 'alerts.yml');
    writeFileSync(
      rules,
      readFileSync(join(DASHBOARDS_DIR, 'alerts.yml'), 'utf8').replace(
        /^(\s+)for: \S+$/gm,
        '$1for: 0s',
      ),
    );
    prometheus = await PrometheusServer.start({
      dir,
      job: JOB,
      targets: [instanceA, instanceB],
      ruleFiles: [rules],
    });
    await scraped('both agents scraped', `count(up{job="${JOB}"} == 1) == 2`);
    await runScenario();
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all(Object.values(upstreams).map(u => u.stop()));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  async function tripAndRecover(): Promise<void> {
    const payments = upstreams.payments;
    payments.behaviour = { status: 503 };
    // Attempts fail; the third consecutive failure opens the breaker.
    await a!.burst(url('payments', '/charge'), 3);
    const rejected = await a!.burst(url('payments', '/charge'), 5);
    expect(rejected.errors.BALDUR_CIRCUIT_OPEN).toBe(5);
    await scraped(
      'payments open on A',
      `baldur_circuit_breaker_state{baldur_dependency="payments", baldur_circuit_breaker_state="open", instance="${instanceA}"} == 1`,
    );
    payments.behaviour = { status: 200, body: 'ok' };
    // After the recovery timeout the next call is the half-open probe; its success closes the breaker.
    for (let i = 0; i < 100; i++) {
      const result = await a!.burst(url('payments', '/charge'), 1);
      if (result.statuses['200'] === 1) break;
      await sleep(100);
    }
    await scraped(
      'payments closed again on A',
      `baldur_circuit_breaker_state{baldur_dependency="payments", baldur_circuit_breaker_state="closed", instance="${instanceA}"} == 1`,
    );
  }

  async function runScenario(): Promise<void> {
    // Healthy traffic on both instances.
    await Promise.all([
      a!.burst(url('payments', '/charge'), 5),
      b!.burst(url('payments', '/charge'), 5),
    ]);
    await scraped(
      'first calls scraped',
      `baldur_calls_total{baldur_dependency="payments", instance="${instanceB}"}`,
    );

    // payments flaps twice: open, half-open probe, closed.
    await tripAndRecover();
    await tripAndRecover();
    await scraped(
      'two recoveries scraped',
      `baldur_circuit_breaker_transitions_total{baldur_dependency="payments", baldur_from="half_open", baldur_to="closed"} >= 2`,
    );

    // A burst over payments' rate limit (20 per second).
    await sleep(1_100);
    const limited = await a!.burst(url('payments', '/charge'), 60, 60);
    expect(limited.errors.BALDUR_RATE_LIMITED).toBeGreaterThan(0);

    // Slow answers fill payments' bulkhead (2 slots, 1 queue place): the fourth call is rejected.
    await sleep(1_100);
    upstreams.payments.enqueue({ delayMs: 2_500 }, 2);
    const slow = a!.burst(url('payments', '/slow'), 4, 4);
    await scraped(
      'payments bulkhead full',
      `baldur_bulkhead_active{baldur_dependency="payments", instance="${instanceA}"} == 2`,
    );
    expect((await slow).errors.BALDUR_BULKHEAD_FULL).toBe(1);

    // ledger is down: its breaker opens and stays open. Every rejected call becomes a dead
    // letter, in batches that land in different scrapes, so the backlog grows.
    upstreams.ledger.behaviour = { status: 503 };
    let captured = 0;
    for (let batch = 1; batch <= 5; batch++) {
      captured += (await a!.burst(url('ledger', '/post'), 40, 10)).errors.BALDUR_CIRCUIT_OPEN ?? 0;
      await scraped(
        `ledger dead letters after batch ${batch}`,
        `baldur_dead_letter_entries{baldur_dependency="ledger", baldur_dead_letter_status="pending"} >= ${captured}`,
      );
    }

    // search: healthy at first (its series exist before the storm, so rates see all of it),
    // then no breaker and every attempt fails, three attempts per call, over several scrapes.
    await a!.burst(url('search', '/q'), 5);
    await scraped('search scraped', 'baldur_calls_total{baldur_dependency="search"}');
    upstreams.search.behaviour = { status: 503 };
    for (let batch = 1; batch <= 3; batch++) {
      await a!.burst(url('search', '/q'), 100, 10);
      await scraped(
        `search retries after batch ${batch}`,
        `baldur_retry_attempts_total{baldur_dependency="search", baldur_retry_result="scheduled"} >= ${batch * 200}`,
      );
    }

    // Fresh successes on both instances, then wait until the last counters are scraped.
    await Promise.all([
      a!.burst(url('payments', '/charge'), 3),
      b!.burst(url('payments', '/charge'), 3),
    ]);
    await scraped(
      'last calls scraped',
      `sum(baldur_calls_total{baldur_dependency="payments", baldur_outcome="success", instance="${instanceB}"}) >= 8`,
    );
  }

  /** For failure messages: catalog series the agents do not export at all. */
  async function missingFamilies(): Promise<string> {
    const present = new Set(
      (await prometheus!.query('count by (__name__) ({__name__=~"baldur_.+"})')).map(
        s => s.metric.__name__,
      ),
    );
    const missing = METRIC_LIST.flatMap(m => prometheusSeries(m, 'agent')).filter(
      name => !present.has(name),
    );
    return missing.length === 0
      ? ''
      : `Catalog series no agent exports (telemetry not wired yet?): ${missing.join(', ')}\n`;
  }

  const variables = {
    job: '.*',
    instance: '.*',
    dependency: DRILL_DOWN_DEPENDENCY,
    __rate_interval: RATE_INTERVAL,
    __interval: '15s',
    __range: '5m',
  };

  const dashboardQueries: DashboardQuery[] = loadDashboards().flatMap(queriesOf);

  it('the scenario went through open, half-open and closed, rate limits and the bulkhead', async () => {
    const p = 'baldur_dependency="payments"';
    for (const [from, to] of [
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]) {
      expect(
        await prometheus!.value(
          `sum(baldur_circuit_breaker_transitions_total{${p}, baldur_from="${from}", baldur_to="${to}"})`,
        ),
        `${from} -> ${to}`,
      ).toBe(2);
    }
    expect(
      await prometheus!.value(
        `sum(baldur_rate_limit_decisions_total{${p}, baldur_rate_limit_result="rejected"})`,
      ),
    ).toBeGreaterThan(0);
    expect(await prometheus!.value(`max(max_over_time(baldur_bulkhead_queued{${p}}[5m]))`)).toBe(1);
    // The slow calls (one rejection) and the rate-limit burst (past the limiter, beyond 3 calls).
    expect(
      await prometheus!.value(
        `sum(baldur_calls_total{${p}, baldur_outcome="rejected", baldur_policy="bulkhead"})`,
      ),
    ).toBeGreaterThan(1);
    expect(
      await prometheus!.value(
        `baldur_circuit_breaker_state{baldur_dependency="ledger", baldur_circuit_breaker_state="open"}`,
      ),
    ).toBe(1);
  });

  it('every panel and annotation query returns data', async () => {
    const failures: string[] = [];
    for (const query of dashboardQueries.filter(q => q.kind !== 'variable')) {
      const expr = substitute(query.expr, variables);
      let samples: Sample[];
      try {
        samples = await prometheus!.query(expr);
      } catch (error) {
        failures.push(`${query.where}: ${String(error)}`);
        continue;
      }
      if (!hasFiniteValue(samples)) {
        failures.push(`${query.where}: no data (${samples.length} samples)\n    ${expr}`);
        continue;
      }
      // Every label the legend names is on every series it draws.
      for (const label of legendLabels(query.legendFormat ?? '')) {
        const missing = samples.filter(s => s.metric[label] === undefined);
        if (missing.length > 0) failures.push(`${query.where}: series without {{${label}}}`);
      }
    }
    expect(failures, (await missingFamilies()) + failures.join('\n')).toEqual([]);
    expect(dashboardQueries.filter(q => q.kind === 'panel').length).toBeGreaterThan(40);
  });

  it('every variable query lists the scenario values', async () => {
    const expected: Record<string, string[]> = {
      job: [JOB],
      dependency: ['ledger', 'payments', 'search'],
      instance: [instanceA, instanceB],
    };
    for (const query of dashboardQueries.filter(q => q.kind === 'variable')) {
      const parsed = parseLabelValues(query.expr)!;
      const values = await prometheus!.labelValues(
        parsed.label,
        substitute(parsed.selector, variables),
      );
      const name = /\$(\w+)$/.exec(query.where)![1]!;
      expect(values, query.where).toEqual(expect.arrayContaining(expected[name]!));
    }
  });

  it('every alert expression returns data, for the dependency or instance it is about', async () => {
    const expected: Record<string, Record<string, string>> = {
      BaldurCircuitBreakerOpen: { baldur_dependency: 'ledger' },
      BaldurRejectionRateHigh: { baldur_dependency: 'ledger', baldur_policy: 'circuit_breaker' },
      BaldurRetryStorm: { baldur_dependency: 'search' },
      BaldurStoreDegraded: { instance: instanceB, baldur_store: 'redis' },
      BaldurDeadLettersGrowing: { baldur_dependency: 'ledger' },
    };
    const rules = loadRules('alerts.yml');
    expect(rules.map(r => r.alert).sort()).toEqual(Object.keys(expected).sort());
    const failures: string[] = [];
    for (const rule of rules) {
      const samples = await prometheus!.query(rule.expr);
      const match = samples.find(s =>
        Object.entries(expected[rule.alert]!).every(([k, v]) => s.metric[k] === v),
      );
      if (match === undefined || !Number.isFinite(match.value)) {
        failures.push(`${rule.alert}: ${JSON.stringify(samples)}\n    ${rule.expr}`);
        continue;
      }
      for (const label of Object.values(rule.annotations).flatMap(templateLabels)) {
        if (match.metric[label] === undefined)
          failures.push(`${rule.alert}: annotations use $labels.${label}, not in the result`);
      }
    }
    expect(failures, (await missingFamilies()) + failures.join('\n')).toEqual([]);
  });

  it('Prometheus loads the rules and every alert fires, its annotations rendered', async () => {
    const groups = await prometheus!.ruleGroups();
    const loaded = groups.flatMap(g => g.rules);
    expect(loaded.map(r => r.name).sort()).toEqual(
      loadRules('alerts.yml')
        .map(r => r.alert)
        .sort(),
    );
    const names = loaded.map(r => r.name);
    let notFiring: string[] = names;
    await prometheus!
      .until(
        'every alert firing',
        async () => {
          const firing = new Set(
            (await prometheus!.alerts())
              .filter(x => x.state === 'firing')
              .map(x => x.labels.alertname),
          );
          notFiring = names.filter(name => !firing.has(name));
          return notFiring.length === 0;
        },
        20_000,
      )
      .catch((error: unknown) => {
        throw new Error(
          `${error instanceof Error ? error.message : String(error)}; not firing: ${notFiring.join(', ')}`,
        );
      });
    for (const rule of (await prometheus!.ruleGroups()).flatMap(g => g.rules))
      expect(rule.health, `${rule.name}: ${rule.lastError ?? ''}`).toBe('ok');
    for (const alert of await prometheus!.alerts()) {
      expect(alert.labels.severity).toMatch(/^(critical|warning)$/);
      for (const [key, text] of Object.entries(alert.annotations)) {
        expect(text, `${alert.labels.alertname} ${key}`).not.toMatch(
          /<no value>|error executing template|\{\{/,
        );
      }
    }
  });

  it('promtool accepts the shipped rule file', async () => {
    const { stdout } = await promisify(execFile)(findExecutable('promtool')!, [
      'check',
      'rules',
      join(DASHBOARDS_DIR, 'alerts.yml'),
    ]);
    expect(stdout).toContain('SUCCESS: 5 rules found');
  });
});

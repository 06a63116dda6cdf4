import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/**
 * A real Prometheus server for the dashboard tests: the Debian `prometheus`
 * binary on a free loopback port, scraping the given targets every second,
 * storing into a temporary directory, evaluating the given rule files.
 */

/** The path of an executable on PATH, if any. */
export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether the Prometheus suites may run: `prometheus` and `promtool` must be on
 * PATH. Missing binaries skip the suite with one line, except under CI=true,
 * where they fail it (CI never goes green by skipping).
 */
export function prometheusAvailable(): boolean {
  const missing = ['prometheus', 'promtool'].filter(name => findExecutable(name) === undefined);
  if (missing.length === 0) return true;
  const message = `${missing.join(' and ')} not found on PATH`;
  if (process.env.CI === 'true')
    throw new Error(`${message} (CI=true: the dashboard suite needs a real Prometheus)`);
  console.warn(
    `[skip] ${message}; skipping the dashboard integration suite (set CI=true to make this a failure)`,
  );
  return false;
}

/** A loopback port nothing listens on (taken, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>(resolve => server.close(() => resolve()));
  return port;
}

/** A sample value as the HTTP API writes it (`"+Inf"`, `"NaN"`, `"0.5"`). */
function sampleValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface ActiveAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: string;
  readonly value: string;
}

interface ApiResponse<T> {
  readonly status: string;
  readonly data: T;
  readonly error?: string;
  readonly errorType?: string;
}

export interface PrometheusOptions {
  readonly dir: string;
  readonly job: string;
  readonly targets: readonly string[];
  readonly ruleFiles?: readonly string[];
}

export class PrometheusServer {
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
  }

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const port = await freePort();
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    const config = join(options.dir, 'prometheus.yml');
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: options.ruleFiles ?? [],
        scrape_configs: [{ job_name: options.job, static_configs: [{ targets: options.targets }] }],
      }),
    );
    const child = spawn(
      findExecutable('prometheus')!,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`);
    await server.until(
      'Prometheus ready',
      async () => (await fetch(`${server.url}/-/ready`)).status === 200,
      30_000,
    );
    return server;
  }

  /** Poll `check` (errors count as "not yet") until it returns true. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: Error | undefined;
    for (;;) {
      if (this.child.exitCode !== null)
        throw new Error(`prometheus exited (${this.child.exitCode}): ${this.stderr}`);
      try {
        if (await check()) return;
      } catch (error) {
        last = error instanceof Error ? error : new Error(String(error));
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}${last === undefined ? '' : `: ${last.message}`}`,
        );
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  }

  private async api<T>(path: string, params: Record<string, string | string[]>): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params))
      for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
    const response = await fetch(`${this.url}${path}?${search.toString()}`);
    const body = (await response.json()) as ApiResponse<T>;
    if (body.status !== 'success')
      throw new Error(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  }

  /** An instant query, as Grafana's instant queries and rule evaluation run it. */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>('/api/v1/query', {
      query: expr,
    });
    if (data.resultType === 'scalar') {
      const [, value] = data.result as [number, string];
      return [{ metric: {}, value: sampleValue(value) }];
    }
    if (data.resultType !== 'vector') throw new Error(`unexpected ${data.resultType} result`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map(
      r => ({ metric: r.metric, value: sampleValue(r.value[1]) }),
    );
  }

  /** The first sample's value, or undefined for an empty result. */
  async value(expr: string): Promise<number | undefined> {
    return (await this.query(expr))[0]?.value;
  }

  /** `label_values(selector, label)`, as Grafana's variable query asks it. */
  labelValues(label: string, selector: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, {
      'match[]': selector,
    });
  }

  async alerts(): Promise<ActiveAlert[]> {
    return (await this.api<{ alerts: ActiveAlert[] }>('/api/v1/alerts', {})).alerts;
  }

  async ruleGroups(): Promise<
    { name: string; file: string; rules: { name: string; health: string; lastError?: string }[] }[]
  > {
    return (
      await this.api<{
        groups: {
          name: string;
          file: string;
          rules: { name: string; health: string; lastError?: string }[];
        }[];
      }>('/api/v1/rules', {})
    ).groups;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>(resolve => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultProxy } from '../../support/fault-proxy';
import { HttpUpstream } from '../../support/http-upstream';
import { startApp, type RunningApp } from '../../support/run-app';
import type { CertificateFiles } from '../../support/self-signed';
import { sleep, until as untilHolds } from '../../support/wait';

/**
 * A test rig for the HTTP instrumentations: an HttpUpstream behind a
 * FaultProxy (its own port, so its own dependency `http:127.0.0.1:<port>`), a
 * config file, and a client app driven over stdin (one JSON command per line,
 * one JSON result per line).
 */
export interface Rig {
  readonly upstream: HttpUpstream;
  readonly proxy: FaultProxy;
  /** Base URL through the proxy. */
  readonly url: string;
  readonly configFile: string;
  stop(): Promise<void>;
}

/**
 * Fast, deterministic policies for tests: small thresholds, no jitter, no retry
 * budget. `circuitBreaker` and `retry` overrides merge into these; `false` turns
 * the policy off.
 */
export function testPolicies(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    circuitBreaker: {
      failureThreshold: 3,
      minimumCalls: 100,
      slidingWindowSize: 100,
      recoveryTimeout: '400ms',
      halfOpenMaxCalls: 1,
      successThreshold: 1,
    },
    retry: { maxAttempts: 3, baseDelay: '20ms', maxDelay: '3s', jitter: 0, budget: false },
  };
  const merged: Record<string, unknown> = { ...base, ...overrides };
  for (const key of ['circuitBreaker', 'retry'] as const) {
    const override = overrides[key];
    if (typeof override === 'object' && override !== null)
      merged[key] = { ...base[key], ...override };
  }
  return merged;
}

export async function startRig(
  policies: Record<string, unknown> = testPolicies(),
  /** An HTTPS upstream with this certificate (the proxy passes TLS through untouched). */
  tls?: CertificateFiles,
): Promise<Rig> {
  const upstream = await new HttpUpstream(tls).start();
  const proxy = await new FaultProxy({ targetPort: upstream.port }).start();
  const dir = mkdtempSync(join(tmpdir(), 'baldur-http-'));
  const configFile = join(dir, 'baldur.config.json');
  writeFileSync(configFile, JSON.stringify({ version: 1, defaults: policies }));
  return {
    upstream,
    proxy,
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${proxy.address.port}`,
    configFile,
    async stop() {
      await proxy.stop();
      await upstream.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- results are free-form JSON from the app
export type Result = Record<string, any>;

export class Client {
  private next = 0;

  constructor(readonly app: RunningApp) {}

  static async start(
    app: string,
    rig: Rig | undefined,
    options: {
      preload?: 'require' | 'import' | 'none';
      env?: Record<string, string>;
      nodeArgs?: string[];
    } = {},
  ): Promise<Client> {
    const running = startApp({
      app: app.startsWith('/') ? app : `apps/${app}`,
      ...(options.preload === undefined ? {} : { preload: options.preload }),
      ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
      env: {
        BALDUR_OTEL_SDK: 'off',
        ...(rig === undefined ? {} : { BALDUR_CONFIG_FILE: rig.configFile }),
        ...options.env,
      },
      timeoutMs: 60_000,
    });
    await running.waitFor(m => m.ready === true);
    return new Client(running);
  }

  /** Send a command; resolves with its result. */
  call(command: Record<string, unknown>): Promise<Result> {
    const id = `c${++this.next}`;
    this.app.send({ ...command, id });
    return this.app.waitFor(m => m.id === id);
  }

  /** Run several commands at once inside the app; resolves with their results in order. */
  async parallel(commands: Record<string, unknown>[]): Promise<Result[]> {
    const ids = commands.map(() => `c${++this.next}`);
    this.app.send({ op: 'parallel', commands: commands.map((c, i) => ({ ...c, id: ids[i] })) });
    return Promise.all(ids.map(id => this.app.waitFor(m => m.id === id)));
  }

  async stop(): Promise<void> {
    this.app.send({ op: 'exit' });
    await this.app.exited;
  }
}

export { sleep };

/** Poll `predicate` every 5 ms until it holds (bounded; fails the test instead of hanging). */
export function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  return untilHolds(predicate, timeoutMs, 5);
}

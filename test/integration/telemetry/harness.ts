import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpUpstream } from '../../support/http-upstream';
import { OtlpReceiver, type ReceivedSpan } from '../../support/otlp-receiver';
import { startApp, type AppOptions, type RunningApp } from '../../support/run-app';
import { sleep } from '../../support/wait';

/** What the app prints for a command (free-form JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- read by property in assertions
export type AppResult = Record<string, any>;

/** Small thresholds and no jitter, so a scenario's decisions are exact. */
export const POLICIES = {
  circuitBreaker: {
    failureThreshold: 2,
    minimumCalls: 100,
    slidingWindowSize: 100,
    recoveryTimeout: '300ms',
    halfOpenMaxCalls: 1,
    successThreshold: 1,
  },
  retry: { maxAttempts: 2, baseDelay: '10ms', maxDelay: '1s', jitter: 0, budget: false },
  // Long enough that a loaded machine never cuts a healthy attempt.
  timeout: '1s',
};

export interface TelemetryRig {
  readonly upstream: HttpUpstream;
  readonly receiver: OtlpReceiver;
  readonly configFile: string;
  /** Environment for a Baldur-owned SDK exporting to the receiver. */
  env(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startTelemetryRig(policies: object = POLICIES): Promise<TelemetryRig> {
  const upstream = await new HttpUpstream().start();
  const receiver = await new OtlpReceiver().start();
  const dir = mkdtempSync(join(tmpdir(), 'baldur-telemetry-'));
  const configFile = join(dir, 'baldur.config.json');
  writeFileSync(configFile, JSON.stringify({ version: 1, defaults: policies }));
  return {
    upstream,
    receiver,
    configFile,
    env: extra => ({
      BALDUR_OTEL_SDK: 'auto',
      BALDUR_CONFIG_FILE: configFile,
      BALDUR_LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_NODE_RESOURCE_DETECTORS: 'env,process',
      ...extra,
    }),
    async stop() {
      await upstream.stop();
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Drives `apps/telemetry-app.*`: one command, its result. */
export class TelemetryApp {
  private next = 0;

  constructor(readonly app: RunningApp) {}

  static async start(options: AppOptions): Promise<TelemetryApp> {
    const app = startApp(options);
    await app.waitFor(m => m.ready === true);
    return new TelemetryApp(app);
  }

  async call(command: Record<string, unknown>): Promise<AppResult> {
    const id = ++this.next;
    this.app.send({ id, ...command });
    return this.app.waitFor(m => m.id === id);
  }

  /** Let the app run out of work and exit (its exit flush runs on `beforeExit`). */
  async exit(): Promise<Awaited<RunningApp['exited']>> {
    this.app.send({ op: 'exit' });
    this.app.child.stdin?.end();
    return this.app.exited;
  }

  /** Resolve once Baldur logged its OpenTelemetry decision (so a test knows the SDK is up). */
  async decided(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!/OpenTelemetry|telemetry goes to/.test(this.app.stderr)) {
      if (Date.now() > deadline)
        throw new Error(`no telemetry decision logged: ${this.app.stderr}`);
      await new Promise(resolve => setTimeout(resolve, 25));
    }
  }
}

export { sleep };

/** A port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>(resolve => server.close(() => resolve()));
  return port;
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

export function baldurSpans(spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter(s => s.scope === 'baldur' && s.name === 'baldur');
}

export function clientSpans(spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter(s => s.kind === SPAN_KIND.CLIENT);
}

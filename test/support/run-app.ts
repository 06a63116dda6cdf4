import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/**
 * Runs a test application as a real child process under the agent, exactly as a
 * user would: `node --require <repo>/build/src/register.js app.cjs` or
 * `node --import <repo>/build/src/register.mjs app.mjs` (`npm test` builds
 * first). Apps talk back by printing one JSON object per line on stdout; the
 * runner collects them, and stderr (Baldur's own log lines) separately.
 */
export const REPO = join(__dirname, '../..');
export const REGISTER_CJS = join(REPO, 'build/src/register.js');
export const REGISTER_ESM = join(REPO, 'build/src/register.mjs');
export const FIXTURES = join(REPO, 'test/fixtures');

export interface AppOptions {
  /** Path of the app (relative paths are under test/fixtures). */
  readonly app: string;
  /** `require` (default for .cjs/.js), `import` (default for .mjs) or `none` (no agent: the control run). */
  readonly preload?: 'require' | 'import' | 'none';
  readonly env?: Record<string, string | undefined>;
  readonly args?: readonly string[];
  readonly nodeArgs?: readonly string[];
  /** Kill the app if it has not exited by then (a hung app fails the test instead of the run). */
  readonly timeoutMs?: number;
}

export interface AppResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly messages: Record<string, unknown>[];
  readonly stdout: string;
  readonly stderr: string;
}

export class RunningApp {
  readonly messages: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  private readonly waiters: {
    predicate: (m: Record<string, unknown>) => boolean;
    resolve: (m: Record<string, unknown>) => void;
  }[] = [];
  readonly exited: Promise<AppResult>;

  constructor(
    readonly child: ChildProcess,
    timeoutMs: number,
  ) {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.stdout += text;
      buffered += text;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line.startsWith('{')) continue;
        try {
          this.receive(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a message line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({
          code,
          signal,
          messages: this.messages,
          stdout: this.stdout,
          stderr: this.stderr,
        });
      });
    });
  }

  /** Resolve with the first message (already received or future) matching `predicate`. */
  waitFor(
    predicate: (m: Record<string, unknown>) => boolean,
    timeoutMs = 15_000,
  ): Promise<Record<string, unknown>> {
    const found = this.messages.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}; stderr: ${this.stderr}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        predicate,
        resolve: m => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Send a line to the app's stdin (apps may read commands from it). */
  send(command: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  private receive(message: Record<string, unknown>): void {
    this.messages.push(message);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(message)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  }
}

export function startApp(options: AppOptions): RunningApp {
  const app = options.app.startsWith('/') ? options.app : join(FIXTURES, options.app);
  const preload = options.preload ?? (app.endsWith('.mjs') ? 'import' : 'require');
  const preloadArgs =
    preload === 'require'
      ? ['--require', REGISTER_CJS]
      : preload === 'import'
        ? ['--import', REGISTER_ESM]
        : [];
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), ...preloadArgs, app, ...(options.args ?? [])],
    {
      cwd: REPO,
      // Baldur starts no OpenTelemetry SDK in tests unless one asks for it (BALDUR_OTEL_SDK=auto):
      // no exports to a collector that is not there, no client spans, no traceparent headers.
      env: { ...process.env, BALDUR_LOG_LEVEL: 'warn', BALDUR_OTEL_SDK: 'off', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  return new RunningApp(child, options.timeoutMs ?? 30_000);
}

/** Run an app to completion. */
export function runApp(options: AppOptions): Promise<AppResult> {
  return startApp(options).exited;
}

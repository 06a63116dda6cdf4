import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type RunningApp } from '../../support/run-app';
import { sleep } from '../../support/wait';

/**
 * Fleets of real worker processes (test/fixtures/apps/fleet-worker.cjs, under
 * the agent) sharing one store, for the fleet integration suites.
 */
export type Message = Record<string, unknown>;

export interface Backend {
  readonly name: string;
  /** Environment selecting the store (BALDUR_REDIS_URL or BALDUR_SQL_DSN). */
  readonly env: Record<string, string>;
}

export const REDIS: Backend = {
  name: 'redis',
  env: { BALDUR_REDIS_URL: 'redis://127.0.0.1:6379' },
};
export const POSTGRES: Backend = {
  name: 'postgresql',
  env: { BALDUR_SQL_DSN: 'postgresql://postgres@127.0.0.1:5432/test' },
};
export const MARIADB: Backend = {
  name: 'mysql',
  env: { BALDUR_SQL_DSN: 'mysql://root@127.0.0.1:3306/test' },
};

export { sleep };

/** A key prefix no other run uses (letters, digits and _, at most 32). */
export function uniquePrefix(label: string): string {
  return `t_${label}_${randomBytes(4).toString('hex')}`.slice(0, 32);
}

let sequence = 0;

export class Worker {
  constructor(
    readonly index: number,
    readonly app: RunningApp,
  ) {}

  /** Send a command carrying a fresh id and wait for the answer of `type` with that id. */
  async ask(command: Message, type: string, timeoutMs = 15_000): Promise<Message> {
    const id = `c${++sequence}`;
    const answer = this.app.waitFor(m => m.type === type && m.id === id, timeoutMs);
    this.app.send({ ...command, id });
    return answer;
  }

  send(command: Message): void {
    this.app.send(command);
  }

  messages(type: string): Message[] {
    return this.app.messages.filter(m => m.type === type);
  }

  transitions(dependency: string): Message[] {
    return this.messages('transition').filter(m => m.dependency === dependency);
  }

  /** The breaker state this worker last reported for `dependency` ('closed' before any transition). */
  state(dependency: string): string {
    return (this.transitions(dependency).at(-1)?.to as string | undefined) ?? 'closed';
  }

  /** Wait for a message matching `predicate` that arrived after `from` messages had. */
  waitAfter(
    from: number,
    predicate: (m: Message) => boolean,
    timeoutMs = 15_000,
  ): Promise<Message> {
    return this.app.waitFor(m => this.app.messages.indexOf(m) >= from && predicate(m), timeoutMs);
  }

  get crashed(): boolean {
    return this.app.messages.some(m => m.type === 'crash');
  }

  async exit(): Promise<number | null> {
    if (this.app.child.exitCode !== null || this.app.child.signalCode !== null)
      return this.app.child.exitCode;
    this.app.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.app.child.kill('SIGKILL'), 10_000);
    const result = await this.app.exited;
    clearTimeout(timer);
    return result.code;
  }
}

export interface FleetSpec {
  readonly backend: Backend;
  readonly size: number;
  /** The config file's content (JSON). */
  readonly config: Message;
  readonly prefix: string;
  readonly env?: Record<string, string>;
}

export class Fleet {
  readonly workers: Worker[] = [];
  private readonly dir: string;
  private readonly configFile: string;

  constructor(readonly spec: FleetSpec) {
    this.dir = mkdtempSync(join(tmpdir(), 'baldur-fleet-'));
    this.configFile = join(this.dir, 'baldur.config.json');
    writeFileSync(this.configFile, JSON.stringify(spec.config));
  }

  static async start(spec: FleetSpec): Promise<Fleet> {
    const fleet = new Fleet(spec);
    await Promise.all(Array.from({ length: spec.size }, () => fleet.add()));
    return fleet;
  }

  /** Start one more worker (or a replacement) and wait until it is ready. */
  async add(): Promise<Worker> {
    const app = startApp({
      app: 'apps/fleet-worker.cjs',
      timeoutMs: 300_000,
      env: {
        BALDUR_CONFIG_FILE: this.configFile,
        BALDUR_KEY_PREFIX: this.spec.prefix,
        BALDUR_SERVICE_NAME: 'fleet-test',
        BALDUR_OTEL_SDK: 'off',
        // Exactness suites measure the store in normal operation: a budget that a loaded CI
        // machine's database (fsync on, two cores shared by every suite) stays within.
        // Outage suites set their own tight budget.
        BALDUR_STORE_TIMEOUT: '2s',
        ...this.spec.backend.env,
        ...this.spec.env,
      },
    });
    const worker = new Worker(this.workers.length, app);
    this.workers.push(worker);
    await app.waitFor(m => m.type === 'ready', 20_000);
    return worker;
  }

  /**
   * Wait until every worker's store is available (a networked store's first
   * calls connect — and for SQL, check the schema — which on a busy machine can
   * take longer than one call's budget and trip the store's breaker for a
   * second): measurements start from a steady state.
   */
  async warm(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const worker of this.live) {
      for (;;) {
        const answer = await worker.ask({ cmd: 'instances' }, 'instances');
        const own = (answer.instances as { store: { available: boolean } }[] | undefined)?.[0];
        if (own?.store.available === true) break;
        if (Date.now() > deadline)
          throw new Error(`worker #${worker.index}: the store never became available`);
        await sleep(200);
      }
    }
  }

  get live(): Worker[] {
    return this.workers.filter(
      w => w.app.child.exitCode === null && w.app.child.signalCode === null,
    );
  }

  /** Poll until every live worker satisfies `check` (bounded). */
  async until(what: string, check: (w: Worker) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.live.every(check)) return;
      await sleep(20);
    }
    throw new Error(
      `timed out waiting until ${what}; workers: ${this.live
        .map(
          w =>
            `#${w.index} ${JSON.stringify(w.app.messages.slice(-5))} stderr: ${w.app.stderr.slice(-500)}`,
        )
        .join(' | ')}`,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map(w => w.exit().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The dependency key the agent gives plain HTTP calls to an upstream on 127.0.0.1. */
export const httpKey = (port: number): string => `http:127.0.0.1:${port}`;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Print a measured figure for the report (stdout of the test run; never asserted). */
export function report(label: string, value: unknown): void {
  console.log(
    `[fleet measurement] ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
}

/** What the counting upstream does with a request. */
export type UpstreamMode = 'ok' | 'reset' | { okAfterMs: number };

/**
 * An HTTP upstream that records when each request arrived (wall clock, the
 * workers' clock too) and answers 200 (`ok`), after a delay, or by resetting
 * the connection (`reset`: the client sees ECONNRESET, a thrown failure).
 */
export class CountingUpstream {
  readonly arrivals: number[] = [];
  mode: UpstreamMode = 'ok';
  port = 0;
  private server: Server | undefined;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.arrivals.push(Date.now());
      const mode = this.mode;
      if (mode === 'reset') {
        req.socket.destroy();
        return;
      }
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      };
      if (mode === 'ok') answer();
      else setTimeout(answer, mode.okAfterMs);
    });
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Requests that arrived in [fromMs, toMs). */
  between(fromMs: number, toMs: number): number {
    return this.arrivals.filter(t => t >= fromMs && t < toMs).length;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>(resolve =>
      this.server === undefined ? resolve() : this.server.close(() => resolve()),
    );
  }
}

export interface Load {
  readonly worker: Worker;
  readonly ids: string[];
}

export function startLoad(fleet: Fleet, urls: string[]): Load[] {
  return fleet.live.map(worker => {
    const ids = urls.map((url, i) => {
      const id = `load-${worker.index}-${i}-${Date.now()}`;
      worker.send({ cmd: 'run', id, url, concurrency: 2, pauseMs: 2 });
      return id;
    });
    return { worker, ids };
  });
}

export async function stopLoad(loads: Load[]): Promise<Message[]> {
  const results = await Promise.all(
    loads.flatMap(({ worker, ids }) =>
      ids.map(run => worker.ask({ cmd: 'stop', run }, 'stopped', 20_000)),
    ),
  );
  return results;
}

/** Every dead letter any worker reported capturing. */
export function capturedDeadLetters(fleet: Fleet): string[] {
  return fleet.workers.flatMap(w => w.messages('dead-letter').map(m => m.id as string));
}

export async function listedDeadLetters(worker: Worker): Promise<string[]> {
  const answer = await worker.ask({ cmd: 'dead-letters' }, 'dead-letters', 20_000);
  if (answer.error !== undefined)
    throw new Error(`listing dead letters failed: ${JSON.stringify(answer.error)}`);
  return answer.ids as string[];
}

/**
 * Wait (bounded) until `worker` lists every dead letter in `captured`: entries
 * buffered during an outage are written by their worker shortly after the
 * store recovers. Returns the ones still missing.
 */
export async function missingDeadLetters(worker: Worker, captured: string[]): Promise<string[]> {
  let missing = captured;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(250)) {
    const listed = new Set(await listedDeadLetters(worker));
    missing = captured.filter(id => !listed.has(id));
    if (missing.length === 0) break;
  }
  return missing;
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startApp, type RunningApp } from '../../support/run-app';
import { ServiceRig } from '../../support/service-rig';
import { SERVICES } from '../../support/services';
import { sleep, until } from '../../support/wait';
export { testPolicies } from '../../support/policies';

/**
 * Test rig for the ioredis instrumentation: the shared Redis behind a
 * FaultProxy, a config file, a unique key prefix, and the command-driven app
 * (test/fixtures/apps/ioredis-driver.{cjs,mjs}) in a child process.
 */
export const REDIS = SERVICES.redis;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- results are JSON lines the tests take apart freely
export type Result = Record<string, any>;

export class Rig extends ServiceRig {
  readonly prefix = `baldur-test:${this.suffix}:`;

  constructor(config: Record<string, unknown>) {
    super(REDIS, 'ioredis', config);
  }

  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Stop the proxies and delete every key this rig's prefix names (the Redis server is shared). */
  override async stop(): Promise<void> {
    await super.stop();
    const redis = new Redis({ host: REDIS.host, port: REDIS.port, maxRetriesPerRequest: 1 });
    try {
      const keys = await redis.keys(`${this.prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  }
}

/** The driver app: send a command, get its result line. */
export class Driver {
  private next = 0;

  private constructor(readonly app: RunningApp) {}

  static async start(
    app: string,
    rig: Rig | undefined,
    options: {
      preload?: 'require' | 'import' | 'none';
      nodeArgs?: string[];
      env?: Record<string, string>;
    } = {},
  ): Promise<Driver> {
    const running = startApp({
      app,
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
    return new Driver(running);
  }

  call(command: Record<string, unknown>, timeoutMs?: number): Promise<Result> {
    const id = `c${++this.next}`;
    this.app.send({ ...command, id });
    return this.app.waitFor(m => m.id === id, timeoutMs);
  }

  /** Connect client `name` (through `port`, default the real Redis). */
  async client(name: string, options: Record<string, unknown> = {}): Promise<void> {
    await this.call({
      op: 'client',
      name,
      options: { host: REDIS.host, port: REDIS.port, ...options },
    });
  }

  cmd(client: string, command: string, ...args: unknown[]): Promise<Result> {
    return this.call({ op: 'cmd', client, command, args });
  }

  /** Baldur events the app reported so far. */
  events(type?: string): Result[] {
    return this.app.messages.filter(
      m => m.event !== undefined && (type === undefined || m.event === type),
    );
  }

  async stop(): Promise<void> {
    if (this.app.child.exitCode === null) {
      this.app.send({ op: 'exit' });
      await this.app.exited;
    }
  }
}

export { sleep, until };

/**
 * A throwaway three-master Redis Cluster on free local ports (slots assigned
 * with CLUSTER ADDSLOTSRANGE, nodes joined with CLUSTER MEET), killed by `stop()`.
 */
export class LocalCluster {
  private readonly processes: ChildProcess[] = [];
  readonly ports: number[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'baldur-cluster-'));

  static available(): boolean {
    return spawnSync('redis-server', ['--version']).status === 0;
  }

  async start(): Promise<this> {
    while (this.ports.length < 3) {
      const port = await freePort();
      // The cluster bus listens on port + 10000.
      if (port < 50_000 && !this.ports.includes(port) && (await isFree(port + 10_000)))
        this.ports.push(port);
    }
    for (const port of this.ports) {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(this.dir, `nodes-${port}.conf`),
          '--dir',
          this.dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: 'ignore' },
      );
      this.processes.push(child);
    }
    const admins = this.ports.map(
      port => new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => 50 }),
    );
    for (const admin of admins) admin.on('error', () => {}); // refused until the servers listen
    try {
      await until(async () =>
        (
          await Promise.all(
            admins.map(a =>
              a.ping().then(
                () => true,
                () => false,
              ),
            ),
          )
        ).every(Boolean),
      );
      const ranges = [
        [0, 5460],
        [5461, 10922],
        [10923, 16383],
      ];
      await Promise.all(
        admins.map((admin, i) => admin.call('CLUSTER', 'ADDSLOTSRANGE', ...ranges[i]!)),
      );
      for (const port of this.ports.slice(1))
        await admins[0]!.call('CLUSTER', 'MEET', '127.0.0.1', port);
      await until(async () => {
        const infos = await Promise.all(
          admins.map(a => a.call('CLUSTER', 'INFO') as Promise<string>),
        );
        return infos.every(info => info.includes('cluster_state:ok'));
      }, 20_000);
    } finally {
      for (const admin of admins) admin.disconnect();
    }
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(
        child =>
          new Promise<void>(resolve => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

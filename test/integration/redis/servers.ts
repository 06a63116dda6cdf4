import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { sleep } from '../../support/wait';

/**
 * Private Redis servers for the Redis store's integration tests: standalone,
 * TLS, a 3-node Cluster and a Sentinel pair, each on free local ports, bound to
 * 127.0.0.1, with no persistence, in a temporary directory. Tests that stop,
 * pause or restart a server use one of these, never the shared Redis.
 */
const run = promisify(execFile);

export { sleep };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      );
    });
  });
}

/** Poll until `check` holds, at most `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(25);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** `redis-cli` against a local port (TLS options appended when given). */
export async function cli(port: number, args: string[], tlsArgs: string[] = []): Promise<string> {
  const { stdout } = await run(
    'redis-cli',
    ['-h', '127.0.0.1', '-p', String(port), ...tlsArgs, ...args],
    {
      timeout: 10_000,
    },
  );
  return stdout.trim();
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
    private readonly binary = 'redis-server',
    /** How to ping it (TLS servers need redis-cli TLS flags). */
    private readonly pingPort = port,
    private readonly pingArgs: string[] = [],
  ) {}

  static async start(
    options: {
      args?: string[];
      binary?: string;
      pingPort?: number;
      pingArgs?: string[];
      port?: number;
    } = {},
  ): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'baldur-redis-'));
    const server = new RedisServer(
      port,
      dir,
      options.args ?? [],
      options.binary,
      options.pingPort ?? port,
      options.pingArgs,
    );
    await server.launch();
    return server;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      ...this.extraArgs,
    ];
    const child = spawn(this.binary, args, { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise(resolve => child.once('exit', () => resolve()));
    await until(
      async () => (await cli(this.pingPort, ['ping'], this.pingArgs)) === 'PONG',
      `redis on port ${this.pingPort} answers`,
    );
  }

  /** SIGKILL: the server is gone at once, connections are reset. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  /** SIGSTOP: connections stay open, nothing answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) {
      this.child.kill('SIGCONT');
      await this.kill();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Delete every key matching `pattern` (SCAN + UNLINK; on a Cluster, on every master). */
export async function deleteKeys(
  url: string,
  pattern: string,
  tls?: { ca: string },
): Promise<void> {
  const parsed = new URL(url.replace(/^rediss?\+cluster:/, 'redis:'));
  const options = { lazyConnect: true, ...(tls === undefined ? {} : { tls }) };
  const nodes: Redis[] = [];
  let cluster: Cluster | undefined;
  if (url.includes('+cluster:')) {
    cluster = new Cluster([{ host: parsed.hostname, port: Number(parsed.port) }], {
      lazyConnect: true,
      redisOptions: options,
    });
    await cluster.connect();
    nodes.push(...cluster.nodes('master'));
  } else {
    const client = new Redis({ host: parsed.hostname, port: Number(parsed.port), ...options });
    await client.connect();
    nodes.push(client);
  }
  try {
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) await node.unlink(key);
      } while (cursor !== '0');
    }
  } finally {
    if (cluster !== undefined) cluster.disconnect();
    else nodes.forEach(node => node.disconnect());
  }
}

/** A 3-master Redis Cluster on free local ports, no replicas. */
export class LocalCluster {
  private constructor(readonly servers: RedisServer[]) {}

  static async start(size = 3): Promise<LocalCluster> {
    const servers: RedisServer[] = [];
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      servers.push(
        await RedisServer.start({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const cluster = new LocalCluster(servers);
    try {
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...servers.map(s => `127.0.0.1:${s.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: 30_000 },
      );
      await until(async () => {
        for (const server of servers) {
          const info = await cli(server.port, ['cluster', 'info']);
          if (!info.includes('cluster_state:ok')) return false;
          const slots = await cli(server.port, ['cluster', 'slots']);
          if (slots === '') return false;
        }
        return true;
      }, 'the cluster is ok on every node');
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get url(): string {
    return `redis+cluster://${this.servers.map(s => `127.0.0.1:${s.port}`).join(',')}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map(s => s.stop()));
  }
}

/** A self-signed CA and a server certificate for 127.0.0.1 / localhost. */
export async function makeCertificates(): Promise<{
  dir: string;
  ca: string;
  cert: string;
  key: string;
  cleanup(): void;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'baldur-tls-'));
  const path = (name: string): string => join(dir, name);
  const openssl = (args: string[]): Promise<unknown> => run('openssl', args, { timeout: 30_000 });
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=baldur-test-ca',
  ]);
  await openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    path('server.key'),
    '-out',
    path('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(path('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await openssl([
    'x509',
    '-req',
    '-in',
    path('server.csr'),
    '-CA',
    path('ca.crt'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-out',
    path('server.crt'),
    '-days',
    '1',
    '-extfile',
    path('ext.cnf'),
  ]);
  return {
    dir,
    ca: path('ca.crt'),
    cert: path('server.crt'),
    key: path('server.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A primary, one replica and one sentinel (quorum 1) watching them as `mymaster`. */
export class LocalSentinel {
  private constructor(
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinelPort: number,
    private readonly sentinel: ChildProcess,
    private readonly dir: string,
  ) {}

  static readonly MASTER = 'mymaster';

  static async start(): Promise<LocalSentinel> {
    const primary = await RedisServer.start();
    const replica = await RedisServer.start({
      args: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    const sentinelPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'baldur-sentinel-'));
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${LocalSentinel.MASTER} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${LocalSentinel.MASTER} 1000`,
        `sentinel failover-timeout ${LocalSentinel.MASTER} 5000`,
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-sentinel', [config], { stdio: 'ignore' });
    const local = new LocalSentinel(primary, replica, sentinelPort, sentinel, dir);
    try {
      await until(
        async () =>
          (await cli(primary.port, ['info', 'replication'])).includes('connected_slaves:1') &&
          (await cli(replica.port, ['info', 'replication'])).includes('master_link_status:up') &&
          /flags\s+slave\s/.test(
            await cli(sentinelPort, ['sentinel', 'replicas', LocalSentinel.MASTER]),
          ),
        'the replica is in sync and known to the sentinel (it polls every 10 s)',
        30_000,
      );
    } catch (error) {
      await local.stop();
      throw error;
    }
    return local;
  }

  get url(): string {
    return `redis+sentinel://${LocalSentinel.MASTER}@127.0.0.1:${this.sentinelPort}/0`;
  }

  /** The port of the server the sentinel currently calls master. */
  async masterPort(): Promise<number> {
    const reply = await cli(this.sentinelPort, [
      'sentinel',
      'get-master-addr-by-name',
      LocalSentinel.MASTER,
    ]);
    return Number(reply.split('\n')[1]);
  }

  async stop(): Promise<void> {
    this.sentinel.kill('SIGKILL');
    await Promise.all([this.primary.stop(), this.replica.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

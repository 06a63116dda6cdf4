import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type * as Ioredis from 'ioredis';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { markInternal } from '../../../instrumentations/shared/internal';
import { ConfigError } from '../../config/config-error';
import type { RedisNode, RedisTopology } from './redis-url';
import { SCRIPTS, type ScriptName } from './scripts';

export type IoredisModule = typeof Ioredis;
/** ioredis declares `replyMapping?: … | undefined`, which its own overloads reject under exactOptionalPropertyTypes. */
type NodeOptions = Omit<RedisOptions, 'replyMapping'>;
type ClusterSettings = Omit<ClusterOptions, 'redisOptions'> & {
  redisOptions: Omit<NonNullable<ClusterOptions['redisOptions']>, 'replyMapping'>;
};
export type RedisClient = Redis | Cluster;

/** The scripts of scripts.ts, as ioredis `defineCommand` exposes them. */
export type ScriptCommands = {
  readonly [K in ScriptName]: (...keysThenArgs: (string | number)[]) => Promise<unknown>;
};

export interface RedisCredentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly sentinelPassword?: string | undefined;
}

export interface RedisClientSettings {
  readonly topology: RedisTopology;
  readonly credentials: RedisCredentials;
  /** Budget of one store call: the command timeout; connection timeouts derive from it. */
  readonly timeoutMs: number;
  /**
   * Extra TLS options for `rediss` (for instance `{ ca }` for a private CA).
   * Without them the system CAs apply, plus `NODE_EXTRA_CA_CERTS`.
   */
  readonly tls?: ConnectionOptions | undefined;
  /** Shown in CLIENT LIST. */
  readonly connectionName: string;
}

/**
 * Loaded only when a Redis store is configured: the agent must not require a
 * peer library the application does not use. The application's own copy is
 * preferred (same module instance, so instrumentation marks apply).
 */
export function loadIoredis(): IoredisModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy
    return require('ioredis') as IoredisModule;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
  }
  try {
    // Not resolvable from here (a global or linked install): the application's own copy.
    return createRequire(join(process.cwd(), 'index.js'))('ioredis') as IoredisModule;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    throw new ConfigError([
      {
        path: 'store.redisUrl',
        value: '[redacted]',
        problem:
          'a Redis store needs the ioredis package (5.x or 6.x), which is not installed; run `npm install ioredis`',
        source: undefined,
      },
    ]);
  }
}

/**
 * Client settings for an agent: fail fast instead of queueing, never hold the
 * process open, never be policed by the agent's own instrumentation.
 *
 * - `lazyConnect`: nothing connects at startup, so a down Redis never delays it.
 * - `enableOfflineQueue: false`, `autoResendUnfulfilledCommands: false`,
 *   `maxRetriesPerRequest: 0`: a command is sent once, when connected, or not
 *   at all; no command that already timed out for its caller is replayed minutes
 *   later after a reconnect.
 * - `commandTimeout` = the longest call budget (a backstop: the decorator bounds
 *   each call); `socketTimeout` drops a connection that stops answering (a paused
 *   or black-holed server) so the next call reconnects.
 * - `retryStrategy: null`: no reconnect timers of ioredis's own (they are
 *   ref'd and would keep an idle process alive during an outage); see ConnectionGate.
 * - Sockets are unref'd once connected, for the same reason.
 */
export function createCommandClient(
  ioredis: IoredisModule,
  settings: RedisClientSettings,
): RedisClient & ScriptCommands {
  const { topology } = settings;
  let client: RedisClient;
  if (topology.kind === 'cluster') {
    const cluster = new ioredis.Cluster(topology.nodes.map(toNode), clusterOptions(settings));
    cluster.on('+node', (node: Redis) => prepare(node));
    client = cluster;
  } else {
    client = new ioredis.Redis(redisOptions(settings, topology));
    prepare(client);
  }
  markInternal(client);
  for (const [name, definition] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, definition);
  }
  return client as RedisClient & ScriptCommands;
}

/**
 * A dedicated subscriber connection (a connection in subscriber mode can run
 * nothing else). On Redis Cluster, plain PUBLISH reaches every node, so the
 * subscriber is a plain connection to one node, taken in turn from `nodes`
 * (the cluster's current nodes, else the configured ones) on each attempt.
 */
export function createSubscriberClient(
  ioredis: IoredisModule,
  settings: RedisClientSettings,
  attempt: number,
  clusterNodes: readonly RedisNode[] = [],
): Redis {
  const { topology } = settings;
  let options: NodeOptions;
  if (topology.kind === 'cluster') {
    const nodes = clusterNodes.length > 0 ? clusterNodes : topology.nodes;
    const node = nodes[attempt % nodes.length]!;
    options = {
      ...redisOptions(settings, { kind: 'standalone', tls: topology.tls, node, db: 0 }),
      connectionName: `${settings.connectionName}:sub`,
    };
  } else {
    options = {
      ...redisOptions(settings, topology),
      connectionName: `${settings.connectionName}:sub`,
    };
  }
  return prepare(new ioredis.Redis(options));
}

/**
 * A connection to one sentinel (in turn from the configured ones, per
 * attempt) that only listens for `+switch-master`: after a failover the old
 * master keeps accepting writes until Sentinel reconfigures it (seconds
 * later), and those writes are lost, so the store drops its connections as
 * soon as a sentinel announces the new master.
 */
export function createSentinelWatcherClient(
  ioredis: IoredisModule,
  settings: RedisClientSettings,
  attempt: number,
): Redis {
  const { topology } = settings;
  if (topology.kind !== 'sentinel') throw new Error('not a Sentinel topology');
  const sentinel = topology.sentinels[attempt % topology.sentinels.length]!;
  return prepare(
    new ioredis.Redis({
      ...timeouts(settings.timeoutMs),
      host: sentinel.host,
      port: sentinel.port,
      ...(settings.credentials.sentinelPassword === undefined
        ? {}
        : { password: settings.credentials.sentinelPassword }),
      ...(topology.tls ? { tls: { ...settings.tls } } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      disableClientInfo: true,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    }),
  );
}

function prepare<T extends Redis>(client: T): T {
  markInternal(client);
  client.on('connect', () => {
    (client as unknown as { stream?: { unref?(): void } }).stream?.unref?.();
  });
  return client;
}

function toNode(node: RedisNode): { host: string; port: number } {
  return { host: node.host, port: node.port };
}

/**
 * The resilient decorator bounds each call by its budget (listings by four);
 * these are ioredis's own backstops, so that no command promise, connection
 * attempt or silent socket outlives the longest budget for long.
 */
function timeouts(
  timeoutMs: number,
): Pick<NodeOptions, 'commandTimeout' | 'connectTimeout' | 'socketTimeout'> {
  const longest = 4 * timeoutMs;
  const slack = Math.max(1_000, longest);
  return { commandTimeout: longest, connectTimeout: slack, socketTimeout: slack };
}

/** Settings shared by every data connection (standalone, Sentinel-resolved, cluster nodes). */
function connectionOptions(settings: RedisClientSettings): NodeOptions {
  return {
    ...timeouts(settings.timeoutMs),
    ...(settings.credentials.username === undefined
      ? {}
      : { username: settings.credentials.username }),
    ...(settings.credentials.password === undefined
      ? {}
      : { password: settings.credentials.password }),
    connectionName: settings.connectionName,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    // After a failover the old master answers READONLY: reconnect, which resolves the new one.
    reconnectOnError: (error: Error) => /^(READONLY|MASTERDOWN)\b/.test(error.message),
  };
}

function redisOptions(
  settings: RedisClientSettings,
  topology: Exclude<RedisTopology, { kind: 'cluster' }>,
): NodeOptions {
  const tls = topology.tls ? { ...settings.tls } : undefined;
  const common: NodeOptions = {
    ...connectionOptions(settings),
    retryStrategy: () => null,
    db: topology.db,
    ...(tls === undefined ? {} : { tls }),
  };
  if (topology.kind === 'standalone') {
    return { ...common, host: topology.node.host, port: topology.node.port };
  }
  return {
    ...common,
    name: topology.masterName,
    sentinels: topology.sentinels.map(toNode),
    role: 'master',
    ...(settings.credentials.sentinelPassword === undefined
      ? {}
      : { sentinelPassword: settings.credentials.sentinelPassword }),
    sentinelCommandTimeout: settings.timeoutMs,
    // One pass over the sentinels per attempt; the next attempt is the next call or probe.
    sentinelRetryStrategy: () => null,
    ...(tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: { ...tls } }),
  };
}

function clusterOptions(settings: RedisClientSettings): ClusterSettings {
  // The cluster manages its nodes' queueing and connecting itself.
  const {
    enableOfflineQueue: _queue,
    lazyConnect: _lazy,
    ...nodeOptions
  } = connectionOptions(settings);
  const node: ClusterSettings['redisOptions'] = {
    ...nodeOptions,
    ...(settings.topology.tls ? { tls: { ...settings.tls } } : {}),
  };
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    clusterRetryStrategy: () => null,
    slotsRefreshTimeout: Math.max(1_000, 4 * settings.timeoutMs),
    redisOptions: node,
  };
}

import type { DependencyDescriptor } from '../../src/config/match';

/** The connection options ioredis keeps on every client (`redis.options`), as far as keys need them. */
export interface RedisOptionsLike {
  readonly host?: unknown;
  readonly port?: unknown;
  readonly path?: unknown;
  readonly db?: unknown;
  readonly sentinels?: unknown;
  readonly name?: unknown;
}

type StartupNode = string | number | { readonly host?: unknown; readonly port?: unknown };

function portOf(value: unknown, fallback: number): number {
  const port = typeof value === 'string' ? Number.parseInt(value, 10) : value;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 ? port : fallback;
}

/**
 * `redis:<host>:<port>/<db>` for a standalone client, from the options it was
 * created with (ioredis fills in `localhost`, 6379 and db 0). A unix socket
 * uses its path as the host. A Sentinel client is keyed by its master group
 * name and the first sentinel's port: the master's address changes on failover,
 * the dependency does not. The key follows the configured db; a later SELECT
 * does not move the client to another key.
 */
export function describeRedis(options: RedisOptionsLike | undefined): DependencyDescriptor {
  const db =
    typeof options?.db === 'number' || typeof options?.db === 'string' ? String(options.db) : '0';
  if (typeof options?.path === 'string' && options.path !== '') {
    return { system: 'redis', host: options.path, port: 0, database: db };
  }
  if (Array.isArray(options?.sentinels) && options.sentinels.length > 0) {
    const first = options.sentinels[0] as StartupNode;
    const port = typeof first === 'object' && first !== null ? portOf(first.port, 26379) : 26379;
    const name =
      typeof options.name === 'string' && options.name !== '' ? options.name : 'mymaster';
    return { system: 'redis', host: name, port, database: db };
  }
  const host =
    typeof options?.host === 'string' && options.host !== '' ? options.host : 'localhost';
  return { system: 'redis', host, port: portOf(options?.port, 6379), database: db };
}

/**
 * One key per Cluster, `redis:<first startup node host>:<port>/0`: the breaker
 * guards the cluster as the app sees it (one client, one dependency), not each
 * node, whose set changes with resharding and failover. Cluster mode has only
 * db 0. Startup nodes may be `{ host, port }`, `'host:port'`, a `redis://` URL
 * or a bare port, as ioredis accepts them; missing parts default like ioredis
 * (127.0.0.1, 6379).
 */
export function describeCluster(startupNodes: unknown): DependencyDescriptor {
  const first = (Array.isArray(startupNodes) ? startupNodes[0] : startupNodes) as
    StartupNode | undefined;
  let host = '127.0.0.1';
  let port = 6379;
  if (typeof first === 'number') port = portOf(first, 6379);
  else if (typeof first === 'string') {
    if (first.includes('://')) {
      try {
        const url = new URL(first);
        host = url.hostname || host;
        port = portOf(url.port, 6379);
      } catch {
        // ioredis would reject it too; keep the defaults.
      }
    } else {
      const colon = first.lastIndexOf(':');
      if (colon === -1) host = first || host;
      else {
        host = first.slice(0, colon) || host;
        port = portOf(first.slice(colon + 1), 6379);
      }
    }
  } else if (typeof first === 'object' && first !== null) {
    if (typeof first.host === 'string' && first.host !== '') host = first.host;
    port = portOf(first.port, 6379);
  }
  return { system: 'redis', host, port, database: '0' };
}

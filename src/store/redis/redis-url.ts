import { ConfigError } from '../../config/config-error';

/**
 * `BALDUR_REDIS_URL`, parsed. Credentials never come from the URL (they would
 * end up in process listings, logs and crash reports): a URL carrying user
 * info or a password is refused, and no error message ever repeats any part
 * of the URL but the scheme and the hosts.
 *
 *     redis://host[:6379][/db]                   one server
 *     rediss://host[:6379][/db]                  the same over TLS
 *     redis+sentinel://master@h1[:26379],h2/db   Sentinel: the master group name, then the sentinels
 *     rediss+sentinel://master@h1,h2/db          Sentinel, TLS to the sentinels and the servers
 *     redis+cluster://h1[:6379],h2               Redis Cluster: some of its nodes (db 0 only)
 *     rediss+cluster://h1,h2                     Redis Cluster over TLS
 */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export type RedisTopology =
  | {
      readonly kind: 'standalone';
      readonly tls: boolean;
      readonly node: RedisNode;
      readonly db: number;
    }
  | {
      readonly kind: 'sentinel';
      readonly tls: boolean;
      readonly masterName: string;
      readonly sentinels: readonly RedisNode[];
      readonly db: number;
    }
  | { readonly kind: 'cluster'; readonly tls: boolean; readonly nodes: readonly RedisNode[] };

const SCHEMES: Readonly<Record<string, { kind: RedisTopology['kind']; tls: boolean }>> = {
  redis: { kind: 'standalone', tls: false },
  rediss: { kind: 'standalone', tls: true },
  'redis+sentinel': { kind: 'sentinel', tls: false },
  'rediss+sentinel': { kind: 'sentinel', tls: true },
  'redis+cluster': { kind: 'cluster', tls: false },
  'rediss+cluster': { kind: 'cluster', tls: true },
};

export const REDIS_URL_SCHEMES = Object.keys(SCHEMES);

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const MAX_DB = 2_147_483_647;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const IPV6 = /^\[([0-9A-Fa-f:.]+)\]$/;

/** Parse and validate; throws a `ConfigError` on `store.redisUrl` that never echoes a secret. */
export function parseRedisUrl(url: string, path = 'store.redisUrl'): RedisTopology {
  const fail = (problem: string): never => {
    throw new ConfigError([{ path, value: '[redacted]', problem, source: undefined }]);
  };

  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url.trim());
  if (match === null) {
    return fail(`is not a URL; expected ${REDIS_URL_SCHEMES.map(s => `${s}://`).join(', ')}`);
  }
  const scheme = match[1]!.toLowerCase();
  const spec = SCHEMES[scheme];
  if (spec === undefined) {
    return fail(
      `unsupported scheme "${scheme}://"; expected ${REDIS_URL_SCHEMES.map(s => `${s}://`).join(', ')}`,
    );
  }
  let rest = match[2]!;

  // Credentials first, before anything that could echo a part of them: a password may hold any character.
  let masterName: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userInfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (userInfo.includes(':')) {
      return fail(
        'must not contain a password; set BALDUR_REDIS_PASSWORD (and BALDUR_REDIS_USERNAME for an ACL user) instead',
      );
    }
    if (spec.kind !== 'sentinel') {
      return fail(
        'must not contain a user name or other credentials before "@"; set BALDUR_REDIS_USERNAME and BALDUR_REDIS_PASSWORD instead',
      );
    }
    masterName = safeDecode(userInfo);
    if (masterName === undefined || masterName.trim() === '' || /[\s/]/.test(masterName)) {
      return fail(
        `has an invalid Sentinel master name; expected ${scheme}://<master>@host:26379,…/db`,
      );
    }
  } else if (spec.kind === 'sentinel') {
    return fail(
      `needs the Sentinel master group name: ${scheme}://<master>@host1:26379,host2:26379/db`,
    );
  }

  const pathStart = rest.search(/[/?#]/);
  const authority = pathStart === -1 ? rest : rest.slice(0, pathStart);
  const tail = pathStart === -1 ? '' : rest.slice(pathStart);
  if (/[?#]/.test(tail)) {
    return fail(
      'must not have query parameters or a fragment (credentials go in BALDUR_REDIS_USERNAME / BALDUR_REDIS_PASSWORD, TLS is the rediss:// scheme)',
    );
  }
  let db = 0;
  const dbText = tail.replace(/^\/+/, '').replace(/\/+$/, '');
  if (dbText !== '') {
    if (!/^\d{1,10}$/.test(dbText) || Number(dbText) > MAX_DB) {
      return fail(`the path must be a database number from 0 to ${MAX_DB}`);
    }
    db = Number(dbText);
  }

  const defaultPort = spec.kind === 'sentinel' ? DEFAULT_SENTINEL_PORT : DEFAULT_PORT;
  const entries = authority.split(',');
  if (authority.trim() === '' || entries.some(entry => entry.trim() === '')) {
    return fail('needs at least one host (and no empty entries in a comma-separated list)');
  }
  const nodes = entries.map(entry => parseNode(entry.trim(), defaultPort, fail));

  switch (spec.kind) {
    case 'standalone':
      if (nodes.length > 1) {
        return fail(
          `takes one host; for several use ${spec.tls ? 'rediss' : 'redis'}+sentinel:// or ${spec.tls ? 'rediss' : 'redis'}+cluster://`,
        );
      }
      return { kind: 'standalone', tls: spec.tls, node: nodes[0]!, db };
    case 'sentinel':
      return { kind: 'sentinel', tls: spec.tls, masterName: masterName!, sentinels: nodes, db };
    case 'cluster':
      if (db !== 0) return fail('Redis Cluster has only database 0; remove the path');
      return { kind: 'cluster', tls: spec.tls, nodes };
  }
}

function parseNode(
  entry: string,
  defaultPort: number,
  fail: (problem: string) => never,
): RedisNode {
  let host: string;
  let portText: string | undefined;
  const bracketEnd = entry.startsWith('[') ? entry.indexOf(']') : -1;
  if (bracketEnd !== -1) {
    host = entry.slice(0, bracketEnd + 1);
    const after = entry.slice(bracketEnd + 1);
    if (after !== '' && !after.startsWith(':')) return fail(`has an invalid host "${entry}"`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = entry.lastIndexOf(':');
    host = colon === -1 ? entry : entry.slice(0, colon);
    portText = colon === -1 ? undefined : entry.slice(colon + 1);
  }
  const v6 = IPV6.exec(host);
  if (v6 !== null) host = v6[1]!;
  else if (!HOSTNAME.test(host)) return fail(`has an invalid host "${entry}"`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
      return fail(`has an invalid port in "${entry}" (expected 1 to 65535)`);
    }
    port = Number(portText);
  }
  return { host, port };
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** A one-line description for logs: scheme, hosts and db, never credentials. */
export function describeRedisTopology(topology: RedisTopology): string {
  const scheme = (kind: string): string => `${topology.tls ? 'rediss' : 'redis'}${kind}`;
  const hosts = (nodes: readonly RedisNode[]): string =>
    nodes
      .map(n => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`))
      .join(',');
  switch (topology.kind) {
    case 'standalone':
      return `${scheme('')}://${hosts([topology.node])}/${topology.db}`;
    case 'sentinel':
      return `${scheme('+sentinel')}://${topology.masterName}@${hosts(topology.sentinels)}/${topology.db}`;
    case 'cluster':
      return `${scheme('+cluster')}://${hosts(topology.nodes)}`;
  }
}

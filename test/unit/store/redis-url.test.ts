import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error';
import { loadConfig } from '../../../src/config/load';
import {
  describeRedisTopology,
  parseRedisUrl,
  type RedisTopology,
} from '../../../src/store/redis/redis-url';

const PREFIX = 'Invalid Baldur configuration: store.redisUrl: ';

function problem(url: string): string {
  try {
    parseRedisUrl(url);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const issue = (error as ConfigError).issues[0]!;
    expect(issue.value).toBe('[redacted]');
    expect((error as Error).message.startsWith(PREFIX)).toBe(true);
    return (error as Error).message.slice(PREFIX.length);
  }
  throw new Error(`expected ${url} to be refused`);
}

describe('parseRedisUrl', () => {
  it.each<[string, RedisTopology]>([
    [
      'redis://cache',
      { kind: 'standalone', tls: false, node: { host: 'cache', port: 6379 }, db: 0 },
    ],
    [
      'redis://cache:6380/3',
      { kind: 'standalone', tls: false, node: { host: 'cache', port: 6380 }, db: 3 },
    ],
    [
      'redis://cache:6380/',
      { kind: 'standalone', tls: false, node: { host: 'cache', port: 6380 }, db: 0 },
    ],
    [
      'rediss://cache.example.com/1',
      { kind: 'standalone', tls: true, node: { host: 'cache.example.com', port: 6379 }, db: 1 },
    ],
    [
      'REDIS://10.0.0.7:7000',
      { kind: 'standalone', tls: false, node: { host: '10.0.0.7', port: 7000 }, db: 0 },
    ],
    [
      'redis://[::1]:6379/2',
      { kind: 'standalone', tls: false, node: { host: '::1', port: 6379 }, db: 2 },
    ],
    [
      'redis://[fe80::1]',
      { kind: 'standalone', tls: false, node: { host: 'fe80::1', port: 6379 }, db: 0 },
    ],
    [
      'redis+sentinel://mymaster@h1:26379,h2:26380/0',
      {
        kind: 'sentinel',
        tls: false,
        masterName: 'mymaster',
        sentinels: [
          { host: 'h1', port: 26379 },
          { host: 'h2', port: 26380 },
        ],
        db: 0,
      },
    ],
    [
      'rediss+sentinel://my-master@s1,s2,s3/4',
      {
        kind: 'sentinel',
        tls: true,
        masterName: 'my-master',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
          { host: 's3', port: 26379 },
        ],
        db: 4,
      },
    ],
    [
      'redis+cluster://h1:6379,h2:6380,[::1]:7000',
      {
        kind: 'cluster',
        tls: false,
        nodes: [
          { host: 'h1', port: 6379 },
          { host: 'h2', port: 6380 },
          { host: '::1', port: 7000 },
        ],
      },
    ],
    ['rediss+cluster://h1/0', { kind: 'cluster', tls: true, nodes: [{ host: 'h1', port: 6379 }] }],
  ])('parses %s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it('describes a topology without credentials', () => {
    expect(describeRedisTopology(parseRedisUrl('rediss+sentinel://m@h1,h2:26380/2'))).toBe(
      'rediss+sentinel://m@h1:26379,h2:26380/2',
    );
    expect(describeRedisTopology(parseRedisUrl('redis://[::1]/0'))).toBe('redis://[::1]:6379/0');
    expect(describeRedisTopology(parseRedisUrl('redis+cluster://a,b:7000'))).toBe(
      'redis+cluster://a:6379,b:7000',
    );
  });

  const PASSWORD =
    'must not contain a password; set BALDUR_REDIS_PASSWORD (and BALDUR_REDIS_USERNAME for an ACL user) instead';
  const USER =
    'must not contain a user name or other credentials before "@"; set BALDUR_REDIS_USERNAME and BALDUR_REDIS_PASSWORD instead';

  it.each<[string, string]>([
    ['redis://:hunter2@cache:6379/0', PASSWORD],
    ['redis://admin:hunter2@cache:6379/0', PASSWORD],
    ['rediss://:p@ss/w?rd#x@cache', PASSWORD],
    ['redis+sentinel://mymaster:hunter2@h1:26379/0', PASSWORD],
    ['redis+cluster://default:hunter2@h1,h2', PASSWORD],
    ['redis://hunter2@cache', USER],
    ['redis+cluster://hunter2@h1,h2', USER],
  ])('refuses credentials in %s without echoing them', (url, expected) => {
    const message = problem(url);
    expect(message).toBe(expected);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('p@ss');
  });

  it.each<[string, string]>([
    [
      'cache:6379',
      'is not a URL; expected redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster://, rediss+cluster://',
    ],
    [
      'http://cache:6379',
      'unsupported scheme "http://"; expected redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster://, rediss+cluster://',
    ],
    ['redis://', 'needs at least one host (and no empty entries in a comma-separated list)'],
    [
      'redis+cluster://h1,,h2',
      'needs at least one host (and no empty entries in a comma-separated list)',
    ],
    ['redis://a,b', 'takes one host; for several use redis+sentinel:// or redis+cluster://'],
    ['rediss://a,b', 'takes one host; for several use rediss+sentinel:// or rediss+cluster://'],
    ['redis://cache:0', 'has an invalid port in "cache:0" (expected 1 to 65535)'],
    ['redis://cache:70000', 'has an invalid port in "cache:70000" (expected 1 to 65535)'],
    ['redis://cache:http', 'has an invalid port in "cache:http" (expected 1 to 65535)'],
    ['redis://ca_che!', 'has an invalid host "ca_che!"'],
    ['redis://[::1', 'has an invalid host "[::1"'],
    ['redis://cache/db1', 'the path must be a database number from 0 to 2147483647'],
    ['redis://cache/1/2', 'the path must be a database number from 0 to 2147483647'],
    ['redis://cache/99999999999', 'the path must be a database number from 0 to 2147483647'],
    [
      'redis://cache/0?password=x',
      'must not have query parameters or a fragment (credentials go in BALDUR_REDIS_USERNAME / BALDUR_REDIS_PASSWORD, TLS is the rediss:// scheme)',
    ],
    [
      'redis://cache?tls=true',
      'must not have query parameters or a fragment (credentials go in BALDUR_REDIS_USERNAME / BALDUR_REDIS_PASSWORD, TLS is the rediss:// scheme)',
    ],
    [
      'redis+sentinel://h1:26379/0',
      'needs the Sentinel master group name: redis+sentinel://<master>@host1:26379,host2:26379/db',
    ],
    [
      'rediss+sentinel://@h1/0',
      'has an invalid Sentinel master name; expected rediss+sentinel://<master>@host:26379,…/db',
    ],
    ['redis+cluster://h1/2', 'Redis Cluster has only database 0; remove the path'],
  ])('refuses %s', (url, expected) => {
    expect(problem(url)).toBe(expected);
  });
});

describe('BALDUR_REDIS_URL in the configuration', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, files: false });

  it('refuses a URL with a password at load time, naming the variable and not the secret', () => {
    let message = '';
    try {
      load({ BALDUR_REDIS_URL: 'redis://:hunter2@cache:6379/0' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      `${PREFIX}must not contain a password; set BALDUR_REDIS_PASSWORD (and BALDUR_REDIS_USERNAME for an ACL user) instead [env BALDUR_REDIS_URL]`,
    );
  });

  it('never echoes a malformed URL or a password', () => {
    let message = '';
    try {
      load({ BALDUR_REDIS_URL: 'http://user:hunter2@cache', BALDUR_REDIS_PASSWORD: ' ' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain('hunter2');
    expect(message).toContain(
      'store.redisUrl: the value (not shown: it may hold credentials) is not a redis://',
    );
  });

  it('takes the store timeout and the rate-limit fallback', () => {
    const { config } = load({
      BALDUR_REDIS_URL: 'redis://cache:6379/0',
      BALDUR_STORE_TIMEOUT: '400ms',
      BALDUR_STORE_RATE_LIMIT_FALLBACK: 'open',
    });
    expect(config.store).toMatchObject({ timeout: 400, rateLimitFallback: 'open' });
    expect(load({}).config.store).toMatchObject({ timeout: 250, rateLimitFallback: 'local' });
  });
});

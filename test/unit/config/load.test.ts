import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error';
import { loadConfig } from '../../../src/config/load';
import { resolvePipelineOptions } from '../../../src/config/policies';
import { ERROR_CODES } from '../../../src/names/error-codes';
import { TempDir, configError, configErrorMessage } from './helpers';

const PREFIX = 'Invalid Baldur configuration: ';

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => {
  dir.cleanup();
});

/** Load with the scratch directory as cwd and nothing else unless given. */
function load(
  options: { env?: Record<string, string>; programmatic?: unknown; files?: boolean } = {},
): ReturnType<typeof loadConfig> {
  return loadConfig({ cwd: dir.path, env: {}, ...options });
}

describe('loadConfig defaults', () => {
  it('has the documented defaults when nothing is configured', () => {
    const { config, file, warnings } = load();
    expect(file).toBeUndefined();
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      enabled: true,
      strict: false,
      mode: 'enforce',
      serviceName: undefined,
      logLevel: 'warn',
      instrumentations: ['http', 'fetch', 'pg', 'mysql2', 'ioredis', 'inbound'],
      maxDependencies: 500,
      defaults: {},
      dependencies: [],
      store: { keyPrefix: 'baldur', redisUrl: undefined, sqlDsn: undefined },
      admin: { port: undefined, host: '127.0.0.1' },
      otelSdk: 'auto',
    });
    expect(config.deadLetters).toMatchObject({
      maxEntries: 10_000,
      maxPayloadBytes: 8_192,
      ttlMs: 7 * 24 * 3_600_000,
    });
    expect(config.deadLetters.redactKeys).toContain('password');
  });

  it('resolves the SPEC default policies for a dependency', () => {
    const { config } = load();
    const options = resolvePipelineOptions('x', [config.defaults]);
    expect(options.circuitBreaker).toMatchObject({
      failureThreshold: 5,
      failureRateThreshold: 50,
      slidingWindowSize: 100,
      minimumCalls: 10,
      recoveryTimeoutMs: 30_000,
      halfOpenMaxCalls: 3,
      successThreshold: 2,
    });
    expect(options.retry).toMatchObject({
      maxAttempts: 3,
      baseDelayMs: 100,
      maxDelayMs: 5_000,
      jitter: 0.2,
    });
  });

  it('falls back to OTEL_SERVICE_NAME for the service name', () => {
    expect(load({ env: { OTEL_SERVICE_NAME: ' checkout ' } }).config.serviceName).toBe('checkout');
    expect(
      load({ env: { OTEL_SERVICE_NAME: 'checkout', BALDUR_SERVICE_NAME: 'billing' } }).config
        .serviceName,
    ).toBe('billing');
  });
});

describe('loadConfig precedence: defaults < file < env < programmatic', () => {
  const fileContent = [
    'version: 1',
    'mode: observe',
    'logLevel: info',
    'defaults:',
    '  timeout: 1s',
    '  circuitBreaker: { failureThreshold: 3, recoveryTimeout: 10s }',
    'dependencies:',
    '  - match: { system: http, host: api.stripe.com }',
    '    name: stripe',
    '  - match: { name: mailer }',
    '    timeout: 2s',
  ].join('\n');

  it('layers every source, the later winning key by key', () => {
    dir.write('baldur.config.yaml', fileContent);
    const { config, file } = load({
      env: { BALDUR_CB_FAILURE_THRESHOLD: '4', BALDUR_LOG_LEVEL: 'debug' },
      programmatic: { logLevel: 'error', defaults: { timeout: '2500ms' } },
    });
    expect(file).toBe(`${dir.path}/baldur.config.yaml`);
    expect(config.mode).toBe('observe'); // file over default
    expect(config.defaults.circuitBreaker).toEqual({
      failureThreshold: 4, // env over file
      recoveryTimeout: 10_000, // file, untouched by env
    });
    expect(config.logLevel).toBe('error'); // programmatic over env over file
    expect(config.defaults.timeout).toBe(2_500); // programmatic over file
    expect(config.dependencies.map(d => d.name)).toEqual(['stripe', undefined]);
  });

  it('replaces lists and switches a file policy off with false', () => {
    dir.write('baldur.config.yaml', fileContent);
    const { config } = load({
      programmatic: {
        defaults: { circuitBreaker: false },
        dependencies: [{ match: { name: 'only' }, timeout: '3s' }],
      },
    });
    expect(config.defaults.circuitBreaker).toBe(false);
    expect(config.defaults.timeout).toBe(1_000);
    expect(config.dependencies).toEqual([{ match: { name: 'only' }, timeout: 3_000 }]);
  });

  it('lets the environment re-enable a policy a file switched off', () => {
    dir.write('baldur.config.yaml', 'defaults:\n  retry: false\n');
    const { config } = load({ env: { BALDUR_RETRY_MAX_ATTEMPTS: '2' } });
    expect(config.defaults.retry).toEqual({ maxAttempts: 2 });
  });

  it('ignores empty and blank environment values', () => {
    dir.write('baldur.config.yaml', 'mode: observe\n');
    expect(load({ env: { BALDUR_MODE: '' } }).config.mode).toBe('observe');
    expect(load({ env: { BALDUR_MODE: '   ' } }).config.mode).toBe('observe');
    expect(load({ env: { BALDUR_MODE: ' enforce ' } }).config.mode).toBe('enforce');
  });

  it('does not freeze or change the options object passed in', () => {
    const programmatic = {
      defaults: { circuitBreaker: { failureThreshold: 2 } },
      dependencies: [{ match: { name: 'a' } }],
    };
    load({ programmatic });
    expect(Object.isFrozen(programmatic)).toBe(false);
    expect(Object.isFrozen(programmatic.dependencies[0])).toBe(false);
    expect(programmatic).toEqual({
      defaults: { circuitBreaker: { failureThreshold: 2 } },
      dependencies: [{ match: { name: 'a' } }],
    });
  });
});

describe('loadConfig files', () => {
  it('reads ./baldur.config.yaml, .yml or .json, preferring yaml', () => {
    dir.write('baldur.config.json', '{"mode": "observe", "logLevel": "error"}');
    expect(load().config).toMatchObject({ mode: 'observe', logLevel: 'error' });
    dir.write('baldur.config.yml', 'logLevel: info');
    expect(load().config).toMatchObject({ mode: 'enforce', logLevel: 'info' });
    dir.write('baldur.config.yaml', 'logLevel: debug');
    const { config, file } = load();
    expect(config.logLevel).toBe('debug');
    expect(file).toBe(`${dir.path}/baldur.config.yaml`);
  });

  it('reads BALDUR_CONFIG_FILE, relative to cwd, instead of the default files', () => {
    dir.write('baldur.config.yaml', 'mode: observe');
    dir.write('custom.conf', 'logLevel: debug');
    const { config, file } = load({ env: { BALDUR_CONFIG_FILE: 'custom.conf' } });
    expect(file).toBe(`${dir.path}/custom.conf`);
    expect(config).toMatchObject({ mode: 'enforce', logLevel: 'debug' });
  });

  it('reads an explicit absolute path', () => {
    const path = dir.write('settings.json', JSON.stringify({ version: 1, strict: true }));
    expect(loadConfig({ env: { BALDUR_CONFIG_FILE: path } }).config.strict).toBe(true);
  });

  it('treats an empty file as no settings', () => {
    dir.write('baldur.config.yaml', '# nothing here yet\n');
    expect(load().config.mode).toBe('enforce');
  });

  it('skips files entirely with files: false', () => {
    dir.write('baldur.config.yaml', 'mode: observe');
    const { config, file } = load({ files: false, env: { BALDUR_CONFIG_FILE: 'missing.yaml' } });
    expect(file).toBeUndefined();
    expect(config.mode).toBe('enforce');
  });

  it('fails when BALDUR_CONFIG_FILE names a missing file', () => {
    const error = configError(() => load({ env: { BALDUR_CONFIG_FILE: 'nope.yaml' } }));
    expect(error.message).toBe(
      `${PREFIX}BALDUR_CONFIG_FILE: file "${dir.path}/nope.yaml" does not exist [env BALDUR_CONFIG_FILE]`,
    );
    expect(error.code).toBe(ERROR_CODES.CONFIG_INVALID);
  });

  it('names the file, line and column of a YAML syntax error', () => {
    const path = dir.write('baldur.config.yaml', 'version: 1\ndefaults:\n  timeout: [1s, 2s\n');
    expect(configErrorMessage(() => load())).toBe(
      `${PREFIX}(file): cannot parse ${path} at line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    );
    dir.write('baldur.config.yaml', 'mode: enforce\nmode: observe\n');
    expect(configErrorMessage(() => load())).toBe(
      `${PREFIX}(file): cannot parse ${path} at line 2, column 1: Map keys must be unique`,
    );
  });

  it('names the file, line and column of a JSON syntax error', () => {
    const path = dir.write('baldur.config.json', '{\n  "mode": "observe",\n}');
    expect(configErrorMessage(() => load())).toMatch(
      new RegExp(`^${escape(`${PREFIX}(file): cannot parse ${path} at line 3, column 1: `)}\\S`),
    );
  });

  it.each([
    ['a list', '- mode: observe\n'],
    ['a string', 'observe\n'],
    ['a number', '42\n'],
  ])('refuses a file that holds %s', (_, content) => {
    const path = dir.write('baldur.config.yaml', content);
    expect(configErrorMessage(() => load())).toBe(
      `${PREFIX}(root): the config file must hold an object [file ${path}]`,
    );
  });

  it('names the file for a bad value read from it', () => {
    const path = dir.write(
      'baldur.config.yaml',
      'defaults:\n  circuitBreaker:\n    failureThreshold: lots\n',
    );
    expect(configErrorMessage(() => load())).toBe(
      `${PREFIX}defaults.circuitBreaker.failureThreshold: "lots" is not an integer from 0 to 10000 [file ${path}]`,
    );
  });
});

describe('loadConfig errors', () => {
  it('suggests the closest key for a misspelt one', () => {
    expect(configErrorMessage(() => load({ programmatic: { defalts: {} } }))).toBe(
      `${PREFIX}defalts: is not a known key (value {}; did you mean "defaults"?) [start() options]`,
    );
    expect(
      configErrorMessage(() =>
        load({ programmatic: { defaults: { circuitBreaker: { failureTreshold: 3 } } } }),
      ),
    ).toBe(
      `${PREFIX}defaults.circuitBreaker.failureTreshold: is not a known key (value 3; did you mean "failureThreshold"?) [start() options]`,
    );
    expect(
      configErrorMessage(() => load({ programmatic: { dependencies: [{ match: {}, nme: 'x' }] } })),
    ).toBe(
      `${PREFIX}dependencies[0].nme: is not a known key (value "x"; did you mean "name"?) [start() options]`,
    );
  });

  it('offers no suggestion when nothing is close', () => {
    expect(configErrorMessage(() => load({ programmatic: { xyzzy: 1 } }))).toBe(
      `${PREFIX}xyzzy: is not a known key (value 1) [start() options]`,
    );
  });

  it.each([
    [
      { BALDUR_CB_FAILURE_THRESHOLD: '-1' },
      'defaults.circuitBreaker.failureThreshold: "-1" is not an integer from 0 to 10000 [env BALDUR_CB_FAILURE_THRESHOLD]',
    ],
    [
      { BALDUR_CB_FAILURE_RATE_THRESHOLD: '100.5' },
      'defaults.circuitBreaker.failureRateThreshold: "100.5" is not a number from 0 to 100 [env BALDUR_CB_FAILURE_RATE_THRESHOLD]',
    ],
    [
      { BALDUR_RETRY_MAX_ATTEMPTS: '2.5' },
      'defaults.retry.maxAttempts: "2.5" is not an integer from 1 to 100 [env BALDUR_RETRY_MAX_ATTEMPTS]',
    ],
    [
      { BALDUR_RETRY_JITTER: '2' },
      'defaults.retry.jitter: "2" is not a number from 0 to 1 [env BALDUR_RETRY_JITTER]',
    ],
    [
      { BALDUR_ADMIN_PORT: '70000' },
      'admin.port: "70000" is not an integer from 0 to 65535 [env BALDUR_ADMIN_PORT]',
    ],
    [
      { BALDUR_MAX_DEPENDENCIES: 'many' },
      'maxDependencies: "many" is not an integer from 1 to 100000 [env BALDUR_MAX_DEPENDENCIES]',
    ],
    [{ BALDUR_MODE: 'loud' }, 'mode: "loud" is not one of "enforce", "observe" [env BALDUR_MODE]'],
    [
      { BALDUR_LOG_LEVEL: 'trace' },
      'logLevel: "trace" is not one of "error", "warn", "info", "debug" [env BALDUR_LOG_LEVEL]',
    ],
    [
      { BALDUR_RETRY_BACKOFF: 'fibonacci' },
      'defaults.retry.backoff: "fibonacci" is not one of "exponential", "linear", "constant", "decorrelated" [env BALDUR_RETRY_BACKOFF]',
    ],
    [{ BALDUR_OTEL_SDK: 'on' }, 'otel.sdk: "on" is not one of "auto", "off" [env BALDUR_OTEL_SDK]'],
    [
      { BALDUR_INSTRUMENTATIONS: 'http,grpc' },
      'instrumentations[1]: "grpc" is not one of "http", "fetch", "pg", "mysql2", "ioredis", "inbound" [env BALDUR_INSTRUMENTATIONS]',
    ],
    [{ BALDUR_ENABLED: 'maybe' }, 'enabled: "maybe" is not true or false [env BALDUR_ENABLED]'],
    [
      { BALDUR_TIMEOUT: '5 parsecs' },
      'defaults.timeout: "5 parsecs" is not a duration from 0 to 24h (e.g. "250ms", "5s", "1m", or milliseconds) [env BALDUR_TIMEOUT]',
    ],
    [
      { BALDUR_CB_RECOVERY_TIMEOUT: '0' },
      'defaults.circuitBreaker.recoveryTimeout: "0" is not a duration from 1ms to 24h (e.g. "250ms", "5s", "1m", or milliseconds) [env BALDUR_CB_RECOVERY_TIMEOUT]',
    ],
    [
      { BALDUR_RETRY_MAX_DELAY: '2d' },
      'defaults.retry.maxDelay: "2d" is not a duration from 0 to 24h (e.g. "250ms", "5s", "1m", or milliseconds) [env BALDUR_RETRY_MAX_DELAY]',
    ],
    [
      { BALDUR_REDIS_URL: 'http://cache:6379' },
      'store.redisUrl: the value (not shown: it may hold credentials) is not a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL [env BALDUR_REDIS_URL]',
    ],
    [
      { BALDUR_REDIS_URL: 'cache:6379' },
      'store.redisUrl: the value (not shown: it may hold credentials) is not a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL [env BALDUR_REDIS_URL]',
    ],
    [
      { BALDUR_SQL_DSN: 'sqlite:///tmp/db' },
      'store.sqlDsn: the value (not shown: it may hold credentials) is not a postgresql:// or mysql:// URL [env BALDUR_SQL_DSN]',
    ],
    [
      { BALDUR_KEY_PREFIX: 'my-app' },
      'store.keyPrefix: "my-app" is not letters, digits and _ (1-32) [env BALDUR_KEY_PREFIX]',
    ],
  ])('reports %j with the key, value, range and variable', (env, problem) => {
    expect(configErrorMessage(() => load({ env }))).toBe(`${PREFIX}${problem}`);
  });

  it('accepts every documented store URL scheme', () => {
    for (const url of [
      'redis://cache:6379',
      'rediss://cache:6380/1',
      'redis+sentinel://mymaster@h1:26379,h2:26379/0',
      'rediss+sentinel://mymaster@h1:26379/0',
      'redis+cluster://h1:6379,h2:6379',
      'rediss+cluster://h1:6379,h2:6379',
    ]) {
      expect(load({ env: { BALDUR_REDIS_URL: url } }).config.store.redisUrl).toBe(url);
    }
    for (const dsn of [
      'postgresql://u@db/orders',
      'postgres://db/orders',
      'mysql://db:3306/shop',
    ]) {
      expect(load({ env: { BALDUR_SQL_DSN: dsn } }).config.store.sqlDsn).toBe(dsn);
    }
  });

  it('accepts only version 1', () => {
    expect(load({ programmatic: { version: 1 } }).config.mode).toBe('enforce');
    expect(configErrorMessage(() => load({ programmatic: { version: 2 } }))).toBe(
      `${PREFIX}version: 2 is not supported (expected 1) [start() options]`,
    );
    const path = dir.write('baldur.config.yaml', 'version: "0"\n');
    expect(configErrorMessage(() => load())).toBe(
      `${PREFIX}version: "0" is not supported (expected 1) [file ${path}]`,
    );
  });

  it('names start() options as the source of a bad programmatic value', () => {
    expect(
      configErrorMessage(() =>
        load({ programmatic: { defaults: { bulkhead: { maxQueue: -1 } } } }),
      ),
    ).toBe(
      `${PREFIX}defaults.bulkhead.maxQueue: -1 is not an integer from 0 to 1000000 [start() options]`,
    );
  });

  it('validates dependency names and inbound settings', () => {
    expect(
      configErrorMessage(() =>
        load({ programmatic: { dependencies: [{ match: { name: 'a' }, name: 'has spaces' }] } }),
      ),
    ).toBe(
      `${PREFIX}dependencies[0].name: "has spaces" is not a name of 1-128 letters, digits, and _ . : / - [start() options]`,
    );
    expect(
      configErrorMessage(() =>
        load({ programmatic: { inbound: { rateLimit: { limit: 10, key: 'cookie' } } } }),
      ),
    ).toBe(
      `${PREFIX}inbound.rateLimit.key: "cookie" is not "ip", "route" or "header:<name>" [start() options]`,
    );
    expect(
      configErrorMessage(() =>
        load({
          programmatic: {
            inbound: { routes: [{ match: { path: '/orders' }, idempotency: { ttl: '500ms' } }] },
          },
        }),
      ),
    ).toBe(
      `${PREFIX}inbound.routes[0].idempotency.ttl: "500ms" is not a duration from 1s to 720h (e.g. "250ms", "5s", "1m", or milliseconds) [start() options]`,
    );
    const { config } = load({
      programmatic: { inbound: { rateLimit: { limit: 10, key: 'header:X-Api-Key' } } },
    });
    expect(config.inbound).toEqual({ rateLimit: { limit: 10, key: 'header:X-Api-Key' } });
  });

  it('refuses true where only false or an object is accepted', () => {
    expect(
      configErrorMessage(() => load({ programmatic: { defaults: { circuitBreaker: true } } })),
    ).toBe(`${PREFIX}defaults.circuitBreaker: true is not false or an object [start() options]`);
  });

  it('requires the match of a dependencies[] entry', () => {
    expect(
      configErrorMessage(() => load({ programmatic: { dependencies: [{ timeout: '1s' }] } })),
    ).toBe(`${PREFIX}dependencies[0].match: is required (an object) [start() options]`);
  });

  it('refuses start() options that are not an object', () => {
    expect(configErrorMessage(() => load({ programmatic: 'fast please' }))).toBe(
      `${PREFIX}(root): start() options must be an object [start() options]`,
    );
  });

  it('lists every problem in one message, each with its source', () => {
    const path = dir.write('baldur.config.yaml', 'logLevel: loud\n');
    const error = configError(() =>
      load({ env: { BALDUR_MODE: 'loud' }, programmatic: { maxDependencies: 0 } }),
    );
    expect(error.message).toBe(
      `${PREFIX}mode: "loud" is not one of "enforce", "observe" [env BALDUR_MODE]; ` +
        `logLevel: "loud" is not one of "error", "warn", "info", "debug" [file ${path}]; ` +
        `maxDependencies: 0 is not an integer from 1 to 100000 [start() options]`,
    );
    expect(error.issues).toEqual([
      {
        path: 'mode',
        value: 'loud',
        problem: '"loud" is not one of "enforce", "observe"',
        source: 'env BALDUR_MODE',
      },
      {
        path: 'logLevel',
        value: 'loud',
        problem: '"loud" is not one of "error", "warn", "info", "debug"',
        source: `file ${path}`,
      },
      {
        path: 'maxDependencies',
        value: 0,
        problem: '0 is not an integer from 1 to 100000',
        source: 'start() options',
      },
    ]);
  });

  describe('cross-field checks', () => {
    it('refuses minimumCalls above slidingWindowSize', () => {
      expect(
        configErrorMessage(() =>
          load({
            programmatic: {
              defaults: { circuitBreaker: { minimumCalls: 20, slidingWindowSize: 10 } },
            },
          }),
        ),
      ).toBe(
        `${PREFIX}defaults.circuitBreaker.minimumCalls: 20 exceeds slidingWindowSize (10), so the rate triggers could never fire [start() options]`,
      );
    });

    it('judges minimumCalls against the default window size', () => {
      expect(configErrorMessage(() => load({ env: { BALDUR_CB_MINIMUM_CALLS: '101' } }))).toBe(
        `${PREFIX}defaults.circuitBreaker.minimumCalls: 101 exceeds slidingWindowSize (100), so the rate triggers could never fire [env BALDUR_CB_MINIMUM_CALLS]`,
      );
      expect(load({ env: { BALDUR_CB_MINIMUM_CALLS: '100' } }).config.defaults).toEqual({
        circuitBreaker: { minimumCalls: 100 },
      });
    });

    it('refuses a per-attempt timeout above the total timeout', () => {
      expect(
        configErrorMessage(() =>
          load({ env: { BALDUR_TIMEOUT: '5s', BALDUR_TOTAL_TIMEOUT: '1s' } }),
        ),
      ).toBe(
        `${PREFIX}defaults.timeout: per-attempt timeout (5000 ms) exceeds totalTimeout (1000 ms) [env BALDUR_TIMEOUT]`,
      );
    });

    it('checks each dependency entry merged over the defaults', () => {
      const path = dir.write(
        'baldur.config.yaml',
        'defaults:\n  totalTimeout: 2s\ndependencies:\n  - match: { name: a }\n  - match: { name: b }\n    timeout: 3s\n',
      );
      expect(configErrorMessage(() => load())).toBe(
        `${PREFIX}dependencies[1].timeout: per-attempt timeout (3000 ms) exceeds totalTimeout (2000 ms) [file ${path}]`,
      );
    });

    it('allows an attempt timeout when there is no total timeout', () => {
      expect(
        load({ env: { BALDUR_TIMEOUT: '5s', BALDUR_TOTAL_TIMEOUT: '0' } }).config.defaults,
      ).toEqual({ timeout: 5_000, totalTimeout: 0 });
    });
  });
});

describe('loadConfig result', () => {
  it('is deeply frozen', () => {
    const { config } = load({
      programmatic: {
        defaults: { circuitBreaker: { failureThreshold: 2 } },
        dependencies: [{ match: { name: 'a' }, rateLimit: { limit: 5 } }],
        inbound: { routes: [{ match: { path: '/orders' } }] },
      },
    });
    const frozen = [
      config,
      config.defaults,
      config.defaults.circuitBreaker,
      config.dependencies,
      config.dependencies[0],
      config.dependencies[0]!.match,
      config.dependencies[0]!.rateLimit,
      config.deadLetters,
      config.deadLetters.redactKeys,
      config.instrumentations,
      config.store,
      config.admin,
      config.inbound!.routes![0]!.match,
    ];
    for (const value of frozen) expect(Object.isFrozen(value)).toBe(true);
    expect(() => {
      (config as { mode: string }).mode = 'observe';
    }).toThrow(TypeError);
    expect(() => {
      (config.instrumentations as string[]).push('grpc');
    }).toThrow(TypeError);
  });

  it('warns about unknown BALDUR_* variables and ignores other variables', () => {
    const { warnings, config } = load({
      env: {
        BALDUR_CB_FAILURE_TRESHOLD: '3',
        BALDUR_MODEL: 'observe',
        PATH: '/usr/bin',
        OTEL_TRACES_EXPORTER: 'otlp',
      },
    });
    expect(warnings).toEqual([
      'unknown environment variable BALDUR_CB_FAILURE_TRESHOLD ignored',
      'unknown environment variable BALDUR_MODEL ignored',
    ]);
    expect(config.defaults).toEqual({});
    expect(config.mode).toBe('enforce');
  });

  it('adds configured redaction keys to the built-in list', () => {
    const { config } = load({ programmatic: { deadLetters: { redactKeys: ['ssn'] } } });
    expect(config.deadLetters.redactKeys).toContain('ssn');
    expect(config.deadLetters.redactKeys).toContain('password');
  });

  it('raises a ConfigError that is an Error with a stable code', () => {
    const error = configError(() => load({ env: { BALDUR_MODE: 'x' } }));
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.name).toBe('ConfigError');
    expect(error.code).toBe('BALDUR_CONFIG_INVALID');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

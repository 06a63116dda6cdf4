import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type BaldurConfig } from '../../../src/config/load';
import { ENV_PREFIX, ENV_VARS } from '../../../src/names/env-vars';
import { TempDir } from './helpers';

/** A valid value for every variable (different from the default) and what it must become. */
const SAMPLES: Record<string, [raw: string, parsed: unknown]> = {
  BALDUR_ENABLED: ['false', false],
  BALDUR_MODE: ['observe', 'observe'],
  BALDUR_STRICT: ['true', true],
  BALDUR_LOG_LEVEL: ['debug', 'debug'],
  BALDUR_SERVICE_NAME: ['checkout', 'checkout'],
  BALDUR_INSTRUMENTATIONS: ['http, pg ,ioredis', ['http', 'pg', 'ioredis']],
  BALDUR_ERROR_STACK_TRACES: ['true', true],
  BALDUR_MAX_DEPENDENCIES: ['42', 42],
  BALDUR_REDIS_URL: [
    'rediss+sentinel://mymaster@h1:26379,h2:26379/0',
    'rediss+sentinel://mymaster@h1:26379,h2:26379/0',
  ],
  BALDUR_REDIS_USERNAME: ['agent', 'agent'],
  BALDUR_REDIS_PASSWORD: ['s3cret', 's3cret'],
  BALDUR_REDIS_SENTINEL_PASSWORD: ['sentinel-s3cret', 'sentinel-s3cret'],
  BALDUR_SQL_DSN: ['postgresql://db:5432/orders', 'postgresql://db:5432/orders'],
  BALDUR_SQL_MIGRATE: ['false', false],
  BALDUR_SQL_POOL_SIZE: ['2', 2],
  BALDUR_SQL_POLL_INTERVAL: ['100ms', 100],
  BALDUR_KEY_PREFIX: ['tenant_7', 'tenant_7'],
  BALDUR_STORE_TIMEOUT: ['2s', 2_000],
  BALDUR_STORE_RATE_LIMIT_FALLBACK: ['closed', 'closed'],
  BALDUR_STORE_RECONCILE_INTERVAL: ['500ms', 500],
  BALDUR_STORE_SNAPSHOT_INTERVAL: ['1m', 60_000],
  BALDUR_ADMIN_PORT: ['9464', 9464],
  BALDUR_ADMIN_HOST: ['0.0.0.0', '0.0.0.0'],
  BALDUR_ADMIN_KEY: ['admin-key', 'admin-key'],
  BALDUR_ADMIN_OPERATOR_KEY: ['operator-key', 'operator-key'],
  BALDUR_ADMIN_VIEWER_KEY: ['viewer-key', 'viewer-key'],
  BALDUR_OTEL_SDK: ['off', 'off'],
  BALDUR_OTEL_CLIENT_SPANS: ['false', false],
  BALDUR_CB_ENABLED: ['false', false],
  BALDUR_CB_FAILURE_THRESHOLD: ['7', 7],
  BALDUR_CB_FAILURE_RATE_THRESHOLD: ['12.5', 12.5],
  BALDUR_CB_SLIDING_WINDOW_SIZE: ['200', 200],
  BALDUR_CB_MINIMUM_CALLS: ['20', 20],
  BALDUR_CB_SLOW_CALL_DURATION: ['2s', 2_000],
  BALDUR_CB_SLOW_CALL_RATE_THRESHOLD: ['80', 80],
  BALDUR_CB_RECOVERY_TIMEOUT: ['1m', 60_000],
  BALDUR_CB_HALF_OPEN_MAX_CALLS: ['4', 4],
  BALDUR_CB_SUCCESS_THRESHOLD: ['3', 3],
  BALDUR_RETRY_MAX_ATTEMPTS: ['5', 5],
  BALDUR_RETRY_BACKOFF: ['decorrelated', 'decorrelated'],
  BALDUR_RETRY_BASE_DELAY: ['250ms', 250],
  BALDUR_RETRY_MAX_DELAY: ['10s', 10_000],
  BALDUR_RETRY_MULTIPLIER: ['1.5', 1.5],
  BALDUR_RETRY_JITTER: ['0.5', 0.5],
  BALDUR_RETRY_MAX_ELAPSED: ['1h', 3_600_000],
  BALDUR_TIMEOUT: ['750', 750],
  BALDUR_TOTAL_TIMEOUT: ['30s', 30_000],
};

/** Where a config path lands in the resolved configuration (which renames a few). */
const RESOLVED_PATH: Record<string, string> = {
  'otel.sdk': 'otelSdk',
  'otel.clientSpans': 'otelClientSpans',
};

function at(config: BaldurConfig, path: string): unknown {
  let node: unknown = config;
  for (const key of (RESOLVED_PATH[path] ?? path).split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[key];
  }
  return node;
}

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => {
  dir.cleanup();
});

describe('environment variables', () => {
  const mapped = ENV_VARS.filter(d => d.path !== undefined);

  it('are all BALDUR_* names with a description, listed once', () => {
    const names = ENV_VARS.map(d => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const definition of ENV_VARS) {
      expect(definition.name.startsWith(ENV_PREFIX)).toBe(true);
      expect(definition.description.length).toBeGreaterThan(0);
    }
  });

  it('include the public set of SPEC §3', () => {
    const names = ENV_VARS.map(d => d.name);
    for (const name of [
      'BALDUR_ENABLED',
      'BALDUR_MODE',
      'BALDUR_CONFIG_FILE',
      'BALDUR_LOG_LEVEL',
      'BALDUR_SERVICE_NAME',
      'BALDUR_INSTRUMENTATIONS',
      'BALDUR_REDIS_URL',
      'BALDUR_REDIS_USERNAME',
      'BALDUR_REDIS_PASSWORD',
      'BALDUR_REDIS_SENTINEL_PASSWORD',
      'BALDUR_SQL_DSN',
      'BALDUR_KEY_PREFIX',
      'BALDUR_ADMIN_PORT',
      'BALDUR_ADMIN_HOST',
      'BALDUR_ADMIN_KEY',
      'BALDUR_ADMIN_OPERATOR_KEY',
      'BALDUR_ADMIN_VIEWER_KEY',
      'BALDUR_OTEL_SDK',
      'BALDUR_TIMEOUT',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('each have a sample in this test', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(mapped.map(d => d.name).sort());
  });

  it.each(mapped.map(d => [d.name, d.path!] as const))('%s lands on %s', (name, path) => {
    const [raw, parsed] = SAMPLES[name]!;
    const baseline = loadConfig({ env: {}, cwd: dir.path }).config;
    expect(at(baseline, path)).not.toEqual(parsed);
    const { config, warnings } = loadConfig({ env: { [name]: raw }, cwd: dir.path });
    expect(warnings).toEqual([]);
    expect(at(config, path)).toEqual(parsed);
  });

  it('all apply together', () => {
    const env = Object.fromEntries(Object.entries(SAMPLES).map(([name, [raw]]) => [name, raw]));
    const { config } = loadConfig({ env, cwd: dir.path });
    for (const { name, path } of mapped) expect(at(config, path!)).toEqual(SAMPLES[name]![1]);
  });

  it('BALDUR_CONFIG_FILE selects the config file', () => {
    const path = dir.write('elsewhere.yaml', 'mode: observe\n');
    const { config, file, warnings } = loadConfig({
      env: { BALDUR_CONFIG_FILE: path },
      cwd: dir.path,
    });
    expect(file).toBe(path);
    expect(config.mode).toBe('observe');
    expect(warnings).toEqual([]);
  });

  it('read "1" and "0" as booleans', () => {
    expect(loadConfig({ env: { BALDUR_ENABLED: '0' }, cwd: dir.path }).config.enabled).toBe(false);
    expect(loadConfig({ env: { BALDUR_STRICT: '1' }, cwd: dir.path }).config.strict).toBe(true);
  });
});

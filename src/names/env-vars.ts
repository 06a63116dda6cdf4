/**
 * Every environment variable Baldur reads, with the config key it sets. The
 * README's environment table is checked against this list by a test. Values
 * are validated by the config schema like any other source.
 */
export interface EnvVarDefinition {
  readonly name: string;
  /** Dotted config path the value lands on; undefined for variables handled specially. */
  readonly path: string | undefined;
  readonly description: string;
}

function v(name: string, path: string | undefined, description: string): EnvVarDefinition {
  return Object.freeze({ name, path, description });
}

export const ENV_VARS: readonly EnvVarDefinition[] = Object.freeze([
  v('BALDUR_ENABLED', 'enabled', '`false` = load nothing, patch nothing (default `true`)'),
  v('BALDUR_MODE', 'mode', '`enforce` (default) or `observe` (evaluate and emit, never reject)'),
  v('BALDUR_STRICT', 'strict', '`true`: the preload exits with status 78 on invalid configuration'),
  v(
    'BALDUR_CONFIG_FILE',
    undefined,
    'path of the YAML or JSON config file (default `./baldur.config.{yaml,yml,json}`)',
  ),
  v('BALDUR_LOG_LEVEL', 'logLevel', '`error`, `warn` (default), `info` or `debug`'),
  v('BALDUR_SERVICE_NAME', 'serviceName', 'service name; falls back to `OTEL_SERVICE_NAME`'),
  v(
    'BALDUR_INSTRUMENTATIONS',
    'instrumentations',
    'comma list of `http,fetch,pg,mysql2,ioredis,inbound` (default all)',
  ),
  v(
    'BALDUR_ERROR_STACK_TRACES',
    'errorStackTraces',
    '`true`: Baldur rejections capture a stack trace (off by default: ~3-4 µs per rejection)',
  ),
  v(
    'BALDUR_MAX_DEPENDENCIES',
    'maxDependencies',
    'distinct dependency keys before the rest share `other` (default 500)',
  ),
  v(
    'BALDUR_REDIS_URL',
    'store.redisUrl',
    'shared Redis store: `redis://`, `rediss://`, `redis+sentinel://`, `rediss+sentinel://`, `redis+cluster://`, `rediss+cluster://` (no credentials in the URL)',
  ),
  v(
    'BALDUR_REDIS_USERNAME',
    'store.redisUsername',
    'Redis ACL user (credentials stay out of URLs)',
  ),
  v('BALDUR_REDIS_PASSWORD', 'store.redisPassword', 'Redis password'),
  v(
    'BALDUR_REDIS_SENTINEL_PASSWORD',
    'store.redisSentinelPassword',
    'password of the Sentinel nodes',
  ),
  v('BALDUR_SQL_DSN', 'store.sqlDsn', 'shared SQL store: `postgresql://…` or `mysql://…`'),
  v(
    'BALDUR_SQL_MIGRATE',
    'store.sqlMigrate',
    '`false`: never run DDL; the SQL store only checks that its tables are at a version it can use (default `true`)',
  ),
  v(
    'BALDUR_SQL_POOL_SIZE',
    'store.sqlPoolSize',
    'connections of the SQL store (default 4; PostgreSQL adds one for LISTEN)',
  ),
  v(
    'BALDUR_SQL_POLL_INTERVAL',
    'store.sqlPollInterval',
    'MySQL pub/sub: how often subscribers poll for messages (default `250ms`)',
  ),
  v(
    'BALDUR_KEY_PREFIX',
    'store.keyPrefix',
    'namespace for store keys and tables (default `baldur`)',
  ),
  v(
    'BALDUR_STORE_TIMEOUT',
    'store.timeout',
    'budget of one shared-store call (default `250ms`); slower calls fail and count towards the store breaker',
  ),
  v(
    'BALDUR_STORE_RATE_LIMIT_FALLBACK',
    'store.rateLimitFallback',
    'fleet-wide rate limits while the shared store is unavailable: `local` (default, per process), `open` or `closed`',
  ),
  v(
    'BALDUR_STORE_RECONCILE_INTERVAL',
    'store.reconcileInterval',
    'how often each instance re-reads shared breaker, cooldown and kill-switch state to heal missed messages (default `2s`)',
  ),
  v(
    'BALDUR_STORE_SNAPSHOT_INTERVAL',
    'store.snapshotInterval',
    'how often each instance publishes its status snapshot for `/status` (default `10s`)',
  ),
  v(
    'BALDUR_ADMIN_PORT',
    'admin.port',
    'start the admin server and console on this port (unset = off)',
  ),
  v('BALDUR_ADMIN_HOST', 'admin.host', 'admin bind address (default `127.0.0.1`)'),
  v('BALDUR_ADMIN_KEY', 'admin.key', 'key for the admin role'),
  v('BALDUR_ADMIN_OPERATOR_KEY', 'admin.operatorKey', 'key for the operator role'),
  v('BALDUR_ADMIN_VIEWER_KEY', 'admin.viewerKey', 'key for the viewer role'),
  v(
    'BALDUR_OTEL_SDK',
    'otel.sdk',
    '`auto` (default: start the OTel SDK unless one is registered) or `off`',
  ),
  v(
    'BALDUR_OTEL_CLIENT_SPANS',
    'otel.clientSpans',
    "`false`: Baldur's SDK applies no official client instrumentations (no client span per attempt; about 25 ms less startup)",
  ),
  v('BALDUR_CB_ENABLED', 'defaults.circuitBreaker.enabled', 'default breaker on/off'),
  v(
    'BALDUR_CB_FAILURE_THRESHOLD',
    'defaults.circuitBreaker.failureThreshold',
    'consecutive failures that open a breaker',
  ),
  v(
    'BALDUR_CB_FAILURE_RATE_THRESHOLD',
    'defaults.circuitBreaker.failureRateThreshold',
    'failure % that opens a breaker',
  ),
  v(
    'BALDUR_CB_SLIDING_WINDOW_SIZE',
    'defaults.circuitBreaker.slidingWindowSize',
    'calls in the sliding window',
  ),
  v(
    'BALDUR_CB_MINIMUM_CALLS',
    'defaults.circuitBreaker.minimumCalls',
    'calls before rate triggers apply',
  ),
  v(
    'BALDUR_CB_SLOW_CALL_DURATION',
    'defaults.circuitBreaker.slowCallDuration',
    'duration above which a call is slow',
  ),
  v(
    'BALDUR_CB_SLOW_CALL_RATE_THRESHOLD',
    'defaults.circuitBreaker.slowCallRateThreshold',
    'slow-call % that opens a breaker',
  ),
  v(
    'BALDUR_CB_RECOVERY_TIMEOUT',
    'defaults.circuitBreaker.recoveryTimeout',
    'time open before probing',
  ),
  v(
    'BALDUR_CB_HALF_OPEN_MAX_CALLS',
    'defaults.circuitBreaker.halfOpenMaxCalls',
    'concurrent half-open probes',
  ),
  v(
    'BALDUR_CB_SUCCESS_THRESHOLD',
    'defaults.circuitBreaker.successThreshold',
    'successful probes that close a breaker',
  ),
  v('BALDUR_RETRY_MAX_ATTEMPTS', 'defaults.retry.maxAttempts', 'attempts including the first'),
  v(
    'BALDUR_RETRY_BACKOFF',
    'defaults.retry.backoff',
    '`exponential`, `linear`, `constant` or `decorrelated`',
  ),
  v('BALDUR_RETRY_BASE_DELAY', 'defaults.retry.baseDelay', 'first retry delay'),
  v('BALDUR_RETRY_MAX_DELAY', 'defaults.retry.maxDelay', 'cap on any retry delay'),
  v('BALDUR_RETRY_MULTIPLIER', 'defaults.retry.multiplier', 'exponential growth factor'),
  v('BALDUR_RETRY_JITTER', 'defaults.retry.jitter', 'relative jitter, 0 to 1'),
  v('BALDUR_RETRY_MAX_ELAPSED', 'defaults.retry.maxElapsed', 'stop retrying after this long'),
  v('BALDUR_TIMEOUT', 'defaults.timeout', 'default per-attempt timeout'),
  v('BALDUR_TOTAL_TIMEOUT', 'defaults.totalTimeout', 'default bound on a call including retries'),
]);

export const ENV_PREFIX = 'BALDUR_';

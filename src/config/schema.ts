import { CIRCUIT_BREAKER_DEFAULTS } from '../core/policies/circuit-breaker/options';
import { BULKHEAD_DEFAULTS } from '../core/policies/bulkhead/options';
import { DEAD_LETTER_LIMIT_DEFAULTS } from '../core/policies/dead-letter/options';
import { IDEMPOTENCY_DEFAULTS } from '../core/policies/idempotency/options';
import { RETRY_BUDGET_DEFAULTS, RETRY_DEFAULTS } from '../core/policies/retry/options';
import { formatMs, s, type Infer, type InferInput } from './schema-dsl';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The instrumentations `BALDUR_INSTRUMENTATIONS` can select. */
export const INSTRUMENTATION_NAMES = [
  'http',
  'fetch',
  'pg',
  'mysql2',
  'ioredis',
  'inbound',
] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];

const cb = CIRCUIT_BREAKER_DEFAULTS;
export const circuitBreakerSchema = s.object({
  enabled: s.boolean().optional().describe('false keeps the breaker in the `disabled` state', true),
  failureThreshold: s
    .int(0, 10_000)
    .optional()
    .describe('consecutive failures that open the breaker (0 = off)', cb.failureThreshold),
  failureRateThreshold: s
    .number(0, 100)
    .optional()
    .describe('failure % over the sliding window that opens it (0 = off)', cb.failureRateThreshold),
  slidingWindowSize: s
    .int(1, 10_000)
    .optional()
    .describe('calls the rate triggers look back over', cb.slidingWindowSize),
  minimumCalls: s
    .int(1, 10_000)
    .optional()
    .describe('calls needed before a rate trigger may open it', cb.minimumCalls),
  slowCallDuration: s
    .duration(0, DAY)
    .optional()
    .describe(
      'calls slower than this are slow (0 = slow-call trigger off)',
      formatMs(cb.slowCallDurationMs),
    ),
  slowCallRateThreshold: s
    .number(1, 100)
    .optional()
    .describe('slow-call % over the window that opens it', cb.slowCallRateThreshold),
  recoveryTimeout: s
    .duration(1, DAY)
    .optional()
    .describe('time open before probes are admitted', formatMs(cb.recoveryTimeoutMs)),
  halfOpenMaxCalls: s
    .int(1, 1000)
    .optional()
    .describe('probes in flight at once while half-open', cb.halfOpenMaxCalls),
  successThreshold: s
    .int(1, 1000)
    .optional()
    .describe('successful probes that close it; one failed probe re-opens', cb.successThreshold),
});

const rb = RETRY_BUDGET_DEFAULTS;
export const retryBudgetSchema = s.object({
  ratio: s
    .number(0, 10)
    .optional()
    .describe('retries allowed as a fraction of calls in the window', rb.ratio),
  minPerSecond: s
    .number(0, 100_000)
    .optional()
    .describe('retries always allowed per second', rb.minPerSecond),
  window: s
    .duration(1000, HOUR)
    .optional()
    .describe('window the ratio is measured over', formatMs(rb.windowMs)),
});

const r = RETRY_DEFAULTS;
export const retrySchema = s.object({
  maxAttempts: s
    .int(1, 100)
    .optional()
    .describe('attempts including the first (1 = no retry)', r.maxAttempts),
  backoff: s
    .enum(['exponential', 'linear', 'constant', 'decorrelated'] as const)
    .optional()
    .describe('delay growth', r.backoff),
  baseDelay: s
    .duration(0, HOUR)
    .optional()
    .describe('first delay / linear step', formatMs(r.baseDelayMs)),
  maxDelay: s
    .duration(0, DAY)
    .optional()
    .describe(
      'cap on every delay, jitter included; a longer Retry-After stops retrying',
      formatMs(r.maxDelayMs),
    ),
  multiplier: s.number(1, 100).optional().describe('exponential growth factor', r.multiplier),
  jitter: s.number(0, 1).optional().describe('relative jitter (0.2 = ±20 %)', r.jitter),
  maxElapsed: s
    .duration(0, DAY)
    .optional()
    .describe('stop retrying after this long since the call began (0 = no limit)', '0'),
  budget: s.switchable(retryBudgetSchema).optional().describe('retry-ratio budget', 'on'),
});

export const bulkheadSchema = s.object({
  maxConcurrent: s
    .int(1, 1_000_000)
    .optional()
    .describe('calls in flight at once', BULKHEAD_DEFAULTS.maxConcurrent),
  maxQueue: s
    .int(0, 1_000_000)
    .optional()
    .describe('calls allowed to wait for a slot', BULKHEAD_DEFAULTS.maxQueue),
  queueTimeout: s
    .duration(0, HOUR)
    .optional()
    .describe(
      'longest wait for a slot (0 = unbounded)',
      formatMs(BULKHEAD_DEFAULTS.queueTimeoutMs),
    ),
});

export const rateLimitSchema = s.object({
  limit: s.int(1, 1_000_000_000).describe('permits per period'),
  per: s.duration(1, DAY).optional().describe('the period', '1s'),
  burst: s.int(1, 1_000_000_000).optional().describe('permits usable back to back', 'limit'),
  maxWait: s
    .duration(0, HOUR)
    .optional()
    .describe('longest wait for a permit before rejecting', '0'),
});

export const deadLetterSchema = s.object({
  capture: s
    .enum(['failures', 'all'] as const)
    .optional()
    .describe('failures only, or Baldur rejections too', 'failures'),
});

/** The policy knobs shared by `defaults` and each `dependencies[]` entry. */
const policyShape = {
  circuitBreaker: s
    .switchable(circuitBreakerSchema)
    .optional()
    .describe('circuit breaker settings'),
  retry: s
    .switchable(retrySchema)
    .optional()
    .describe('retry settings (idempotent operations only)'),
  timeout: s.duration(0, DAY).optional().describe('per-attempt timeout (0 = none)', '0'),
  totalTimeout: s
    .duration(0, DAY)
    .optional()
    .describe('bound on the whole call including retries (0 = none)', '0'),
  bulkhead: s.switchable(bulkheadSchema).optional().describe('concurrency limit', 'off'),
  rateLimit: s
    .switchable(rateLimitSchema)
    .optional()
    .describe('rate limit (fleet-wide with a shared store)', 'off'),
  cooldown: s.boolean().optional().describe('honour 429/503 Retry-After for every caller', true),
  deadLetter: s
    .switchable(deadLetterSchema, {})
    .optional()
    .describe('capture failed calls for replay', false),
};

export const policySchema = s.object(policyShape);

export const matchSchema = s.object({
  name: s.string().optional().describe('a protect() name or a dependency key'),
  system: s
    .enum(['http', 'postgresql', 'mysql', 'redis'] as const)
    .optional()
    .describe('client system'),
  host: s.string().optional().describe('host name (glob: *.example.com)'),
  port: s.int(1, 65_535).optional().describe('port'),
  database: s.string().optional().describe('database (SQL) or db index (Redis)'),
  method: s.string().optional().describe('HTTP method'),
  path: s.string().optional().describe('URL path glob (/v1/*)'),
});

export const dependencySchema = s.object({
  match: matchSchema.describe('which calls this entry applies to (all given fields must match)'),
  name: s
    .string(/^[A-Za-z0-9_.:/-]{1,128}$/, 'a name of 1-128 letters, digits, and _ . : / -')
    .optional()
    .describe('dependency key to use instead of the default one'),
  ...policyShape,
});

export const deadLetterLimitsSchema = s.object({
  maxEntries: s
    .int(1, 10_000_000)
    .optional()
    .describe('entries kept; oldest dropped beyond', DEAD_LETTER_LIMIT_DEFAULTS.maxEntries),
  maxPayloadBytes: s
    .int(0, 16 * 1024 * 1024)
    .optional()
    .describe(
      'argument snapshots above this are truncated (not replayable)',
      DEAD_LETTER_LIMIT_DEFAULTS.maxPayloadBytes,
    ),
  ttl: s
    .duration(1000, 365 * DAY)
    .optional()
    .describe('entries expire after this', formatMs(DEAD_LETTER_LIMIT_DEFAULTS.ttlMs)),
  redactKeys: s
    .list(s.string())
    .optional()
    .describe(
      'object keys redacted in snapshots (substring, case-insensitive), added to the built-in list',
    ),
});

export const idempotencySchema = s.object({
  header: s.string().optional().describe('request header carrying the key', 'Idempotency-Key'),
  ttl: s
    .duration(1000, 30 * DAY)
    .optional()
    .describe('how long a completed response is remembered', formatMs(IDEMPOTENCY_DEFAULTS.ttlMs)),
  executionTtl: s
    .duration(100, DAY)
    .optional()
    .describe(
      'how long a claim may run before it can be taken over',
      formatMs(IDEMPOTENCY_DEFAULTS.executionTtlMs),
    ),
});

export const inboundSchema = s.object({
  rateLimit: s
    .switchable(
      s.object({
        limit: s.int(1, 1_000_000_000).describe('requests per period'),
        per: s.duration(1, DAY).optional().describe('the period', '1s'),
        burst: s.int(1, 1_000_000_000).optional().describe('burst', 'limit'),
        key: s
          .string(/^(ip|route|header:[A-Za-z0-9-]+)$/, '"ip", "route" or "header:<name>"')
          .optional()
          .describe('what a limit is counted per', 'ip'),
      }),
    )
    .optional()
    .describe('inbound rate limit'),
  backpressure: s
    .switchable(
      s.object({
        maxEventLoopDelay: s
          .duration(1, 60_000)
          .optional()
          .describe('shed when event-loop delay exceeds this', '200ms'),
        maxInFlight: s
          .int(1, 10_000_000)
          .optional()
          .describe('shed beyond this many requests in flight', 2000),
      }),
    )
    .optional()
    .describe('load shedding'),
  routes: s
    .list(
      s.object({
        match: s.object({ method: s.string().optional(), path: s.string().optional() }),
        idempotency: idempotencySchema.optional(),
      }),
    )
    .optional()
    .describe('per-route settings'),
});

export const storeSchema = s.object({
  redisUrl: s
    .string(
      /^(redis|rediss|redis\+sentinel|rediss\+sentinel|redis\+cluster|rediss\+cluster):\/\//i,
      'a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL',
    )
    .secret()
    .optional()
    .describe('shared Redis store'),
  redisUsername: s.string().optional().describe('Redis ACL user'),
  redisPassword: s.string().secret().optional().describe('Redis password'),
  redisSentinelPassword: s.string().secret().optional().describe('password of the Sentinel nodes'),
  sqlDsn: s
    .string(/^(postgres|postgresql|mysql):\/\//, 'a postgresql:// or mysql:// URL')
    .secret()
    .optional()
    .describe('shared SQL store'),
  sqlMigrate: s
    .boolean()
    .optional()
    .describe(
      'create and upgrade the SQL tables at start; false: only check the schema version (apply the DDL by hand)',
      true,
    ),
  sqlPoolSize: s
    .int(1, 100)
    .optional()
    .describe('connections of the SQL store (PostgreSQL adds one for LISTEN)', 4),
  sqlPollInterval: s
    .duration(10, 10_000)
    .optional()
    .describe('MySQL: how often subscribers poll for published messages', '250ms'),
  keyPrefix: s
    .string(/^[A-Za-z0-9_]{1,32}$/, 'letters, digits and _ (1-32)')
    .optional()
    .describe('namespace of store keys and tables', 'baldur'),
  timeout: s
    .duration(10, 60_000)
    .optional()
    .describe(
      'budget of one shared-store call; slower calls fail and count towards the store breaker',
      '250ms',
    ),
  rateLimitFallback: s
    .enum(['local', 'open', 'closed'] as const)
    .optional()
    .describe(
      'fleet-wide rate limits while the shared store is unavailable: enforce per process, let calls through, or reject them',
      'local',
    ),
  reconcileInterval: s
    .duration(100, 600_000)
    .optional()
    .describe(
      'how often each instance re-reads shared breaker, cooldown and kill-switch state to heal missed messages',
      '2s',
    ),
  snapshotInterval: s
    .duration(1_000, 600_000)
    .optional()
    .describe('how often each instance publishes its status snapshot (kept 3 intervals)', '10s'),
});

export const adminSchema = s.object({
  port: s.int(0, 65_535).optional().describe('admin server + console port (unset = off)'),
  host: s.string().optional().describe('bind address', '127.0.0.1'),
  key: s.string().optional().describe('admin role key'),
  operatorKey: s.string().optional().describe('operator role key'),
  viewerKey: s.string().optional().describe('viewer role key'),
});

export const configSchema = s.object({
  version: s.literal(1).optional().describe('config format version', 1),
  enabled: s.boolean().optional().describe('false = load nothing, patch nothing', true),
  strict: s
    .boolean()
    .optional()
    .describe('preload: exit 78 on bad config instead of running unprotected', false),
  mode: s
    .enum(['enforce', 'observe'] as const)
    .optional()
    .describe('observe = evaluate and emit, never reject', 'enforce'),
  serviceName: s.string().optional().describe('service name (falls back to OTEL_SERVICE_NAME)'),
  logLevel: s
    .enum(['error', 'warn', 'info', 'debug'] as const)
    .optional()
    .describe('log verbosity', 'warn'),
  instrumentations: s
    .list(s.enum(INSTRUMENTATION_NAMES))
    .optional()
    .describe('clients to protect', 'all'),
  errorStackTraces: s
    .boolean()
    .optional()
    .describe('Baldur rejections capture a stack trace (costs ~3-4 µs each)', false),
  maxDependencies: s
    .int(1, 100_000)
    .optional()
    .describe('distinct dependency keys before the rest share "other"', 500),
  defaults: policySchema.optional().describe('policies for every dependency'),
  dependencies: s
    .list(dependencySchema)
    .optional()
    .describe('per-dependency overrides, first match wins'),
  deadLetters: deadLetterLimitsSchema.optional().describe('dead-letter limits'),
  inbound: inboundSchema.optional().describe('inbound HTTP guards'),
  store: storeSchema.optional().describe('shared state store'),
  admin: adminSchema.optional().describe('admin server'),
  otel: s
    .object({
      sdk: s
        .enum(['auto', 'off'] as const)
        .optional()
        .describe('start the OTel SDK unless one is registered', 'auto'),
      clientSpans: s
        .boolean()
        .optional()
        .describe(
          "with Baldur's SDK: apply the official client instrumentations (a client span per attempt)",
          true,
        ),
    })
    .optional(),
});

export type ConfigInput = Infer<typeof configSchema>;
export type PolicyInput = Infer<typeof policySchema>;
export type DependencyInput = Infer<typeof dependencySchema>;
export type MatchInput = Infer<typeof matchSchema>;

/** What `start()` accepts: the config file's shape, with durations as "5s" or milliseconds. */
export type BaldurOptions = InferInput<typeof configSchema>;
/** Policy options as written in config or passed to `protect()`. */
export type PolicyOptions = InferInput<typeof policySchema>;

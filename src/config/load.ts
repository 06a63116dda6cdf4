import {
  DEAD_LETTER_LIMIT_DEFAULTS,
  type DeadLetterLimits,
} from '../core/policies/dead-letter/options';
import { parseRedisUrl } from '../store/redis/redis-url';
import { STORE_TIMEOUT_DEFAULT_MS } from '../store/store-defaults';
import { SQL_STORE_DEFAULTS } from '../store/sql/options';
import {
  FLEET_RECONCILE_INTERVAL_DEFAULT_MS,
  FLEET_SNAPSHOT_INTERVAL_DEFAULT_MS,
} from '../fleet/defaults';
import { ConfigError } from './config-error';
import { configFromEnv, type Environment } from './env';
import { findConfigFile, readConfigFile } from './file';
import { deepFreeze } from './freeze';
import { resolvePipelineOptions } from './policies';
import { ParseContext, INVALID, join } from './schema-dsl';
import {
  configSchema,
  INSTRUMENTATION_NAMES,
  type ConfigInput,
  type DependencyInput,
  type InstrumentationName,
  type PolicyInput,
} from './schema';

/** The validated, defaulted, frozen configuration. Durations are milliseconds. */
export interface BaldurConfig {
  readonly enabled: boolean;
  readonly strict: boolean;
  readonly mode: 'enforce' | 'observe';
  readonly serviceName: string | undefined;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  readonly instrumentations: readonly InstrumentationName[];
  readonly maxDependencies: number;
  readonly errorStackTraces: boolean;
  readonly defaults: PolicyInput;
  readonly dependencies: readonly DependencyInput[];
  readonly deadLetters: DeadLetterLimits;
  readonly inbound: ConfigInput['inbound'];
  readonly store: {
    readonly redisUrl: string | undefined;
    readonly redisUsername: string | undefined;
    readonly redisPassword: string | undefined;
    readonly redisSentinelPassword: string | undefined;
    readonly sqlDsn: string | undefined;
    /** Run the SQL migrations at start (else only check the schema version). */
    readonly sqlMigrate: boolean;
    readonly sqlPoolSize: number;
    /** MySQL pub/sub poll period, ms. */
    readonly sqlPollInterval: number;
    readonly keyPrefix: string;
    /** Budget of one shared-store call. */
    readonly timeout: number;
    /** Fleet-wide rate limits while the shared store is unavailable. */
    readonly rateLimitFallback: 'local' | 'open' | 'closed';
    /** Period of the fleet's reconciliation read (shared breakers, cooldowns, kill switch). */
    readonly reconcileInterval: number;
    /** Period of the instance status snapshot. */
    readonly snapshotInterval: number;
  };
  readonly admin: {
    readonly port: number | undefined;
    readonly host: string;
    readonly key: string | undefined;
    readonly operatorKey: string | undefined;
    readonly viewerKey: string | undefined;
  };
  readonly otelSdk: 'auto' | 'off';
  /** With Baldur's own SDK: apply the official client instrumentations. */
  readonly otelClientSpans: boolean;
}

export interface ConfigSources {
  /** Environment to read `BALDUR_*` from; omit to ignore the environment. */
  readonly env?: Environment;
  /** Directory default config files are looked up in. */
  readonly cwd?: string;
  /** Programmatic options (`start(config)`), applied last. */
  readonly programmatic?: unknown;
  /** `false` skips config files entirely. */
  readonly files?: boolean;
}

export interface LoadedConfig {
  readonly config: BaldurConfig;
  /** The config file that was read, if any. */
  readonly file: string | undefined;
  /** Things worth a log line that are not errors (unknown BALDUR_* variables). */
  readonly warnings: readonly string[];
}

/**
 * Builds the configuration: built-in defaults < config file < environment <
 * programmatic options. Throws one `ConfigError` listing every problem, each
 * with its key, value, accepted range and source.
 */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const env = sources.env ?? {};
  const provenance = new Map<string, string>();
  const warnings: string[] = [];

  let merged: Record<string, unknown> = {};
  let file: string | undefined;
  if (sources.files !== false) {
    file = findConfigFile(env.BALDUR_CONFIG_FILE, sources.cwd ?? process.cwd());
    if (file !== undefined) {
      const content = readConfigFile(file);
      if (content !== null && content !== undefined) {
        if (typeof content !== 'object' || Array.isArray(content)) {
          throw new ConfigError([
            {
              path: '(root)',
              value: content,
              problem: 'the config file must hold an object',
              source: `file ${file}`,
            },
          ]);
        }
        merged = mergeLayer(
          merged,
          content as Record<string, unknown>,
          `file ${file}`,
          provenance,
          '',
        );
      }
    }
  }
  const envLayer = configFromEnv(env);
  merged = mergeLayer(merged, envLayer.values, undefined, provenance, '');
  for (const [path, source] of envLayer.sources) provenance.set(path, source);
  for (const name of envLayer.unknown)
    warnings.push(`unknown environment variable ${name} ignored`);
  if (sources.programmatic !== undefined) {
    if (typeof sources.programmatic !== 'object' || sources.programmatic === null) {
      throw new ConfigError([
        {
          path: '(root)',
          value: sources.programmatic,
          problem: 'start() options must be an object',
          source: 'start() options',
        },
      ]);
    }
    merged = mergeLayer(
      merged,
      sources.programmatic as Record<string, unknown>,
      'start() options',
      provenance,
      '',
    );
  }

  const ctx = new ParseContext(path => sourceOf(provenance, path));
  const parsed = configSchema.parse(merged, '', ctx);
  if (parsed === INVALID || ctx.issues.length > 0) throw new ConfigError(ctx.issues);

  const config = resolve(parsed, env);
  // Cross-field checks run now, so that a bad combination fails at start, not on a first call.
  try {
    // A Redis URL carrying credentials is refused here, at start, without echoing it.
    if (config.store.redisUrl !== undefined) parseRedisUrl(config.store.redisUrl);
    resolvePipelineOptions('defaults', [config.defaults], {}, 'defaults');
    config.dependencies.forEach((entry, i) =>
      resolvePipelineOptions(
        entry.name ?? 'dependency',
        [config.defaults, entry],
        {},
        `dependencies[${i}]`,
      ),
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Name where the offending value came from, like every other configuration error.
    throw new ConfigError(
      error.issues.map(issue => ({
        ...issue,
        source: issue.source ?? sourceOf(provenance, issue.path),
      })),
    );
  }
  return { config: deepFreeze(config), file, warnings };
}

function resolve(input: ConfigInput, env: Environment): BaldurConfig {
  const store = input.store ?? {};
  const admin = input.admin ?? {};
  const deadLetters = input.deadLetters ?? {};
  return {
    enabled: input.enabled ?? true,
    strict: input.strict ?? false,
    mode: input.mode ?? 'enforce',
    serviceName: input.serviceName ?? nonEmpty(env.OTEL_SERVICE_NAME),
    logLevel: input.logLevel ?? 'warn',
    instrumentations: input.instrumentations ?? [...INSTRUMENTATION_NAMES],
    maxDependencies: input.maxDependencies ?? 500,
    errorStackTraces: input.errorStackTraces ?? false,
    defaults: input.defaults ?? {},
    dependencies: input.dependencies ?? [],
    deadLetters: {
      maxEntries: deadLetters.maxEntries ?? DEAD_LETTER_LIMIT_DEFAULTS.maxEntries,
      maxPayloadBytes: deadLetters.maxPayloadBytes ?? DEAD_LETTER_LIMIT_DEFAULTS.maxPayloadBytes,
      ttlMs: deadLetters.ttl ?? DEAD_LETTER_LIMIT_DEFAULTS.ttlMs,
      redactKeys: [...DEAD_LETTER_LIMIT_DEFAULTS.redactKeys, ...(deadLetters.redactKeys ?? [])],
    },
    inbound: input.inbound,
    store: {
      redisUrl: store.redisUrl,
      redisUsername: store.redisUsername,
      redisPassword: store.redisPassword,
      redisSentinelPassword: store.redisSentinelPassword,
      sqlDsn: store.sqlDsn,
      sqlMigrate: store.sqlMigrate ?? SQL_STORE_DEFAULTS.migrate,
      sqlPoolSize: store.sqlPoolSize ?? SQL_STORE_DEFAULTS.poolSize,
      sqlPollInterval: store.sqlPollInterval ?? SQL_STORE_DEFAULTS.pollIntervalMs,
      keyPrefix: store.keyPrefix ?? 'baldur',
      timeout: store.timeout ?? STORE_TIMEOUT_DEFAULT_MS,
      rateLimitFallback: store.rateLimitFallback ?? 'local',
      reconcileInterval: store.reconcileInterval ?? FLEET_RECONCILE_INTERVAL_DEFAULT_MS,
      snapshotInterval: store.snapshotInterval ?? FLEET_SNAPSHOT_INTERVAL_DEFAULT_MS,
    },
    admin: {
      port: admin.port,
      host: admin.host ?? '127.0.0.1',
      key: admin.key,
      operatorKey: admin.operatorKey,
      viewerKey: admin.viewerKey,
    },
    otelSdk: input.otel?.sdk ?? 'auto',
    otelClientSpans: input.otel?.clientSpans ?? true,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deep-merge `layer` over `base`: objects merge key by key, anything else
 * (arrays, `false`, scalars) replaces. Records which source set each leaf.
 */
function mergeLayer(
  base: Record<string, unknown>,
  layer: Record<string, unknown>,
  source: string | undefined,
  provenance: Map<string, string>,
  path: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    const childPath = join(path, key);
    if (isPlainObject(value) && isPlainObject(out[key])) {
      out[key] = mergeLayer(out[key], value, source, provenance, childPath);
    } else {
      out[key] = value;
      if (source !== undefined) provenance.set(childPath, source);
    }
  }
  return out;
}

/** The source of the longest recorded prefix of `path` (list items inherit their list's source). */
function sourceOf(provenance: Map<string, string>, path: string): string | undefined {
  let candidate = path;
  for (;;) {
    const found = provenance.get(candidate);
    if (found !== undefined) return found;
    const cut = Math.max(candidate.lastIndexOf('.'), candidate.lastIndexOf('['));
    if (cut <= 0) return undefined;
    candidate = candidate.slice(0, cut);
  }
}

/** The configuration of this process: its environment, working directory and config file. */
export function loadProcessConfig(programmatic?: unknown): LoadedConfig {
  return loadConfig({
    env: process.env,
    cwd: process.cwd(),
    ...(programmatic === undefined ? {} : { programmatic }),
  });
}

/**
 * `BALDUR_STRICT` read on its own, for the one moment it matters most: when the
 * rest of the configuration is invalid and cannot be trusted.
 */
export function strictFromEnvironment(): boolean {
  const value = process.env.BALDUR_STRICT?.trim().toLowerCase();
  return value === 'true' || value === '1';
}

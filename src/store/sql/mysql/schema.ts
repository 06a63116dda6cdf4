import { DEAD_LETTER_COLLECTION } from '../../../core/policies/dead-letter/dead-letter-queue';
import type { Migration } from '../migrations';
import type { SqlNames } from '../names';

const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/**
 * The MySQL / MariaDB schema, as versioned migrations (see ../migrations.ts).
 * Keys, collections and ids are VARBINARY: compared byte for byte, with no
 * trailing-space padding or case folding, like the other backends. Times are
 * UTC DATETIME(6) computed with UTC_TIMESTAMP(6), independent of time zones.
 * Every statement is idempotent (MySQL DDL commits implicitly).
 *
 * The views use only built-in JSON functions guarded by JSON_VALID/JSON_TYPE
 * (no stored functions: they need extra privileges with binary logging on),
 * and SQL SECURITY INVOKER, so they keep working when the migrating user goes.
 */
export function mysqlMigrations(n: SqlNames): readonly Migration[] {
  return [
    {
      version: 1,
      name: 'tables',
      statements: [
        `CREATE TABLE IF NOT EXISTS ${n.kv} (
  k VARBINARY(512) NOT NULL,
  value LONGTEXT NOT NULL,
  num DOUBLE NULL,
  kind VARCHAR(16) NOT NULL DEFAULT 'value',
  version BIGINT NOT NULL,
  expires_at DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (k),
  KEY ${q(n.raw.kv + '_expires_idx')} (expires_at)
) ${TABLE_OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${n.permits} (
  k VARBINARY(512) NOT NULL,
  tat_ms DOUBLE NOT NULL,
  granted DOUBLE NOT NULL DEFAULT 0,
  retry_after_ms DOUBLE NOT NULL DEFAULT 0,
  limit_count DOUBLE NOT NULL DEFAULT 0,
  per_ms DOUBLE NOT NULL DEFAULT 0,
  burst DOUBLE NOT NULL DEFAULT 0,
  expires_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (k),
  KEY ${q(n.raw.permits + '_expires_idx')} (expires_at)
) ${TABLE_OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${n.collections} (
  collection VARBINARY(255) NOT NULL,
  max_records BIGINT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (collection)
) ${TABLE_OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${n.records} (
  collection VARBINARY(255) NOT NULL,
  id VARBINARY(255) NOT NULL,
  seq BIGINT NOT NULL AUTO_INCREMENT,
  value LONGTEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NULL,
  PRIMARY KEY (collection, id),
  UNIQUE KEY ${q(n.raw.records + '_seq_uq')} (seq),
  KEY ${q(n.raw.records + '_order_idx')} (collection, seq),
  KEY ${q(n.raw.records + '_expires_idx')} (expires_at)
) ${TABLE_OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${n.messages} (
  id BIGINT NOT NULL AUTO_INCREMENT,
  channel VARBINARY(255) NOT NULL,
  payload LONGTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ${q(n.raw.messages + '_created_idx')} (created_at)
) ${TABLE_OPTIONS}`,
      ],
    },
    {
      version: 2,
      name: 'plain-sql views',
      statements: [
        `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${n.deadLettersView} AS
SELECT CONVERT(r.id USING utf8mb4) AS id,
  ${text('r.value', '$.dependency')} AS dependency,
  ${text('r.value', '$.status')} AS status,
  ${text('r.value', '$.reason')} AS reason,
  ${epochMs('r.value', '$.createdAtWallMs')} AS failed_at,
  ${text('r.value', '$.error.name')} AS error_name,
  ${text('r.value', '$.error.message')} AS error_message,
  ${text('r.value', '$.error.code')} AS error_code,
  ${integer('r.value', '$.replayAttempts')} AS replay_attempts,
  ${epochMs('r.value', '$.lastReplayAtWallMs')} AS last_replay_at,
  ${text('r.value', '$.lastReplayError')} AS last_replay_error,
  ${guarded('r.value', `JSON_TYPE(JSON_EXTRACT(r.value, '$.args')) = 'ARRAY'`)} = 1 AS replayable,
  CASE WHEN JSON_VALID(r.value) THEN CASE WHEN JSON_TYPE(JSON_EXTRACT(r.value, '$.args')) = 'ARRAY'
    THEN JSON_EXTRACT(r.value, '$.args') END END AS args,
  ${text('r.value', '$.argsPreview')} AS args_preview,
  ${integer('r.value', '$.argsBytes')} AS args_bytes,
  ${text('r.value', '$.traceId')} AS trace_id,
  ${text('r.value', '$.spanId')} AS span_id,
  ${integer('r.value', '$.v')} AS codec_version,
  ${guarded('r.value', `JSON_TYPE(r.value) = 'OBJECT'`)} = 1 AS valid_json,
  r.seq AS position,
  r.version,
  r.created_at AS stored_at,
  r.updated_at,
  r.expires_at,
  r.value AS raw
FROM ${n.records} r
WHERE r.collection = '${DEAD_LETTER_COLLECTION}' AND (r.expires_at IS NULL OR r.expires_at > UTC_TIMESTAMP(6))`,
        `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${n.idempotencyView} AS
SELECT CONVERT(kv.k USING utf8mb4) AS \`key\`,
  CONVERT(SUBSTRING(kv.k, 6) USING utf8mb4) AS scope_and_key,
  ${text('kv.value', '$.status')} AS status,
  ${epochMs('kv.value', '$.startedAtWallMs')} AS started_at,
  ${text('kv.value', '$.owner')} AS owner,
  ${guarded('kv.value', `JSON_CONTAINS_PATH(kv.value, 'one', '$.result')`)} = 1 AS has_result,
  ${text('kv.value', '$.result')} AS result,
  kv.version,
  kv.updated_at,
  kv.expires_at
FROM ${n.kv} kv
WHERE kv.k LIKE 'idem:%' AND (kv.expires_at IS NULL OR kv.expires_at > UTC_TIMESTAMP(6))`,
        `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${n.windowsView} AS
SELECT CONVERT(k USING utf8mb4) AS \`key\`, num AS count, expires_at AS window_ends_at, version, updated_at
FROM ${n.kv}
WHERE kind = 'counter' AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(6))`,
        `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${n.maximaView} AS
SELECT CONVERT(k USING utf8mb4) AS \`key\`, num AS value, expires_at, version, updated_at
FROM ${n.kv}
WHERE kind = 'max' AND (expires_at IS NULL OR expires_at > UTC_TIMESTAMP(6))`,
        `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${n.rateLimitsView} AS
SELECT CONVERT(p.k USING utf8mb4) AS \`key\`,
  p.limit_count AS \`limit\`,
  p.per_ms,
  p.burst,
  CASE WHEN p.limit_count > 0 AND p.per_ms > 0 THEN
    GREATEST(0, LEAST(p.burst, FLOOR((p.burst * (p.per_ms / p.limit_count)
      - GREATEST(0, p.tat_ms - TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) / 1000e0))
      / (p.per_ms / p.limit_count))))
  END AS available_now,
  CASE WHEN p.tat_ms BETWEEN 0 AND 1e14 THEN TIMESTAMPADD(MICROSECOND, ROUND(p.tat_ms * 1000), '1970-01-01 00:00:00') END
    AS theoretical_arrival_at,
  p.granted AS last_granted,
  p.retry_after_ms AS last_retry_after_ms,
  p.updated_at AS last_decision_at,
  p.expires_at
FROM ${n.permits} p
WHERE p.expires_at > UTC_TIMESTAMP(6)`,
      ],
    },
  ];
}

function q(name: string): string {
  return `\`${name}\``;
}

/** `expr` only for valid JSON (JSON functions raise on malformed text in MySQL); NULL otherwise. */
function guarded(column: string, expr: string): string {
  return `CASE WHEN JSON_VALID(${column}) THEN ${expr} END`;
}

/** A JSON field as text (strings unquoted), NULL when missing or the row is not JSON. */
function text(column: string, path: string): string {
  return guarded(column, `JSON_UNQUOTE(JSON_EXTRACT(${column}, '${path}'))`);
}

const NUMBER_TYPES = `('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')`;

/** A JSON number within `min..max` as a double, else NULL (never an overflow error). */
function number(column: string, path: string, min: string, max: string): string {
  const value = `JSON_EXTRACT(${column}, '${path}')`;
  return guarded(
    column,
    `CASE WHEN JSON_TYPE(${value}) IN ${NUMBER_TYPES} THEN ` +
      `CASE WHEN (JSON_UNQUOTE(${value}) + 0e0) BETWEEN ${min} AND ${max} THEN JSON_UNQUOTE(${value}) + 0e0 END END`,
  );
}

function integer(column: string, path: string): string {
  return `CAST(${number(column, path, '-9007199254740991', '9007199254740991')} AS SIGNED)`;
}

/** Epoch milliseconds in a JSON number to a UTC DATETIME(6). */
function epochMs(column: string, path: string): string {
  return `TIMESTAMPADD(MICROSECOND, ROUND(${number(column, path, '0', '1e14')} * 1000), '1970-01-01 00:00:00')`;
}

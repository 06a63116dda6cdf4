import { DEAD_LETTER_COLLECTION } from '../../../core/policies/dead-letter/dead-letter-queue';
import type { Migration } from '../migrations';
import type { SqlNames } from '../names';

/**
 * The PostgreSQL schema, as versioned migrations (see ../migrations.ts).
 *
 * 1. The tables the store works on: key/values (with counters and maxima),
 *    GCRA permit buckets, bounded record collections, published messages.
 * 2. Views that turn the features' JSON into real columns, so history can be
 *    read with plain SQL, and the helper functions they use (which never
 *    raise on malformed JSON: a bad row shows NULLs).
 */
export function postgresMigrations(n: SqlNames): readonly Migration[] {
  return [
    {
      version: 1,
      name: 'tables',
      statements: [
        `CREATE SEQUENCE IF NOT EXISTS ${n.versionSeq} AS bigint CACHE 1`,
        `CREATE SEQUENCE IF NOT EXISTS ${n.recordSeq} AS bigint CACHE 1`,
        `CREATE TABLE IF NOT EXISTS ${n.kv} (
  k text COLLATE "C" PRIMARY KEY,
  value text NOT NULL,
  num double precision,
  kind text NOT NULL DEFAULT 'value',
  version bigint NOT NULL,
  expires_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
        `CREATE INDEX IF NOT EXISTS ${q(n.raw.kv + '_expires_idx')} ON ${n.kv} (expires_at) WHERE expires_at IS NOT NULL`,
        `CREATE TABLE IF NOT EXISTS ${n.permits} (
  k text COLLATE "C" PRIMARY KEY,
  tat_ms double precision NOT NULL,
  granted double precision NOT NULL DEFAULT 0,
  retry_after_ms double precision NOT NULL DEFAULT 0,
  limit_count double precision NOT NULL DEFAULT 0,
  per_ms double precision NOT NULL DEFAULT 0,
  burst double precision NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
        `CREATE INDEX IF NOT EXISTS ${q(n.raw.permits + '_expires_idx')} ON ${n.permits} (expires_at)`,
        `CREATE TABLE IF NOT EXISTS ${n.collections} (
  collection text COLLATE "C" PRIMARY KEY,
  max_records bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
        `CREATE TABLE IF NOT EXISTS ${n.records} (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  value text NOT NULL,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  PRIMARY KEY (collection, id)
)`,
        `CREATE UNIQUE INDEX IF NOT EXISTS ${q(n.raw.records + '_seq_idx')} ON ${n.records} (collection, seq)`,
        `CREATE INDEX IF NOT EXISTS ${q(n.raw.records + '_expires_idx')} ON ${n.records} (expires_at) WHERE expires_at IS NOT NULL`,
        `CREATE TABLE IF NOT EXISTS ${n.messages} (
  id bigserial PRIMARY KEY,
  channel text COLLATE "C" NOT NULL,
  payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
)`,
        `CREATE INDEX IF NOT EXISTS ${q(n.raw.messages + '_created_idx')} ON ${n.messages} (created_at)`,
      ],
    },
    {
      version: 2,
      name: 'plain-sql views',
      statements: [
        // Malformed JSON yields NULL instead of an error, so one bad row never breaks a view.
        `CREATE OR REPLACE FUNCTION ${n.fnJsonb}(t text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  RETURN t::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$`,
        // Epoch milliseconds in a JSON number to a timestamp; anything else (or out of range) is NULL.
        `CREATE OR REPLACE FUNCTION ${n.fnJsonMs}(j jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
    CASE WHEN j::numeric BETWEEN 0 AND 100000000000000 THEN to_timestamp(j::numeric::float8 / 1000) END
  END
$$`,
        `CREATE OR REPLACE FUNCTION ${n.fnJsonInt}(j jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
    CASE WHEN j::numeric BETWEEN -9007199254740991 AND 9007199254740991 THEN round(j::numeric)::bigint END
  END
$$`,
        `CREATE OR REPLACE VIEW ${n.deadLettersView} AS
SELECT r.id,
  j->>'dependency' AS dependency,
  j->>'status' AS status,
  j->>'reason' AS reason,
  ${n.fnJsonMs}(j->'createdAtWallMs') AS failed_at,
  j->'error'->>'name' AS error_name,
  j->'error'->>'message' AS error_message,
  j->'error'->>'code' AS error_code,
  ${n.fnJsonInt}(j->'replayAttempts') AS replay_attempts,
  ${n.fnJsonMs}(j->'lastReplayAtWallMs') AS last_replay_at,
  j->>'lastReplayError' AS last_replay_error,
  coalesce(jsonb_typeof(j->'args') = 'array', false) AS replayable,
  CASE WHEN jsonb_typeof(j->'args') = 'array' THEN j->'args' END AS args,
  j->>'argsPreview' AS args_preview,
  ${n.fnJsonInt}(j->'argsBytes') AS args_bytes,
  j->>'traceId' AS trace_id,
  j->>'spanId' AS span_id,
  ${n.fnJsonInt}(j->'v') AS codec_version,
  j IS NOT NULL AS valid_json,
  r.seq AS position,
  r.version,
  r.created_at AS stored_at,
  r.updated_at,
  r.expires_at,
  r.value AS raw
FROM ${n.records} r
CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(x.doc) = 'object' THEN x.doc END AS j
  FROM (SELECT ${n.fnJsonb}(r.value) AS doc) x) parsed
WHERE r.collection = '${DEAD_LETTER_COLLECTION}' AND (r.expires_at IS NULL OR r.expires_at > now())`,
        `CREATE OR REPLACE VIEW ${n.idempotencyView} AS
SELECT kv.k AS key,
  substr(kv.k, 6) AS scope_and_key,
  j->>'status' AS status,
  ${n.fnJsonMs}(j->'startedAtWallMs') AS started_at,
  j->>'owner' AS owner,
  coalesce(j ? 'result', false) AS has_result,
  j->>'result' AS result,
  kv.version,
  kv.updated_at,
  kv.expires_at
FROM ${n.kv} kv
CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(x.doc) = 'object' THEN x.doc END AS j
  FROM (SELECT ${n.fnJsonb}(kv.value) AS doc) x) parsed
WHERE kv.k LIKE 'idem:%' AND (kv.expires_at IS NULL OR kv.expires_at > now())`,
        `CREATE OR REPLACE VIEW ${n.windowsView} AS
SELECT k AS key, num AS count, expires_at AS window_ends_at, version, updated_at
FROM ${n.kv}
WHERE kind = 'counter' AND (expires_at IS NULL OR expires_at > now())`,
        `CREATE OR REPLACE VIEW ${n.maximaView} AS
SELECT k AS key, num AS value, expires_at, version, updated_at
FROM ${n.kv}
WHERE kind = 'max' AND (expires_at IS NULL OR expires_at > now())`,
        `CREATE OR REPLACE VIEW ${n.rateLimitsView} AS
SELECT p.k AS key,
  p.limit_count AS "limit",
  p.per_ms,
  p.burst,
  CASE WHEN p.limit_count > 0 AND p.per_ms > 0 THEN
    greatest(0, least(p.burst, floor((p.burst * (p.per_ms / p.limit_count) - greatest(0, p.tat_ms - c.now_ms)) / (p.per_ms / p.limit_count))))
  END AS available_now,
  to_timestamp(p.tat_ms / 1000) AS theoretical_arrival_at,
  p.granted AS last_granted,
  p.retry_after_ms AS last_retry_after_ms,
  p.updated_at AS last_decision_at,
  p.expires_at
FROM ${n.permits} p
CROSS JOIN (SELECT extract(epoch FROM now())::float8 * 1000 AS now_ms) c
WHERE p.expires_at > now() AND p.tat_ms BETWEEN -1e15 AND 1e15`,
      ],
    },
  ];
}

/** Quote a derived identifier (index names). */
function q(name: string): string {
  return `"${name}"`;
}

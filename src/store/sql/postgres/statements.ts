import { gcraSelect } from '../gcra-sql';
import type { SqlNames } from '../names';

/**
 * Every statement of the PostgreSQL store. Each primitive is one statement
 * (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`): the conflicting row is
 * locked before the update expressions are evaluated, so read-modify-write
 * is atomic without an explicit transaction. Time is the database's `now()`
 * so that hosts with skewed clocks agree; versions come from one sequence,
 * so a version is never reused, even across a delete and a re-create.
 */
export interface PostgresStatements {
  readonly get: string;
  readonly forgetExpired: string;
  readonly set: string;
  readonly setIfAbsent: string;
  readonly setIfVersion: string;
  readonly delete: string;
  readonly deleteIfVersion: string;
  readonly increment: string;
  readonly raise: string;
  readonly takePermits: string;
  readonly getRecord: string;
  readonly forgetExpiredRecord: string;
  readonly updateRecord: string;
  readonly updateRecordIfVersion: string;
  readonly listRecords: string;
  readonly listRecordsBefore: string;
  readonly removeRecord: string;
  readonly countRecords: string;
  /** Three statements for one simple-protocol round trip (values spliced as literals). */
  readonly addRecord: (
    collection: string,
    id: string,
    value: string,
    maxRecords: string,
    ttlMs: string,
  ) => string;
  readonly publishLarge: string;
  readonly fetchMessage: string;
  readonly sweep: readonly string[];
}

export function postgresStatements(n: SqlNames): PostgresStatements {
  const live = (t: string): string => `(${t}.expires_at IS NULL OR ${t}.expires_at > now())`;
  const expiry = (param: string): string => `now() + ${param}::float8 * interval '1 millisecond'`;
  const nextVersion = `nextval('${n.versionSeq}')`;
  // The numeric value of a row; text written by set() counts when it is a plain decimal. NaN, ±Infinity
  // and anything else a human may have stored count as absent instead of poisoning max/sum.
  const num = (t: string): string =>
    `CASE WHEN ${t}.num BETWEEN '-1e308'::float8 AND '1e308'::float8 THEN ${t}.num ` +
    `WHEN ${t}.num IS NULL AND ${t}.value ~ '^-?[0-9]{1,15}([.][0-9]{1,15})?$' THEN ${t}.value::float8 END`;
  const kvColumns = '(k, value, num, kind, version, expires_at, updated_at)';
  const double = (literal: string): string => `${literal}::float8`;
  const nowMs = `(extract(epoch FROM now()) * 1000)::float8`;
  const gcra = (stored: string): string =>
    gcraSelect({
      stored,
      nowMs,
      requested: '$2::float8',
      limit: '$3::float8',
      perMs: '$4::float8',
      burst: '$5::float8',
      double,
    });
  const storedArrival = `CASE WHEN t.expires_at > now() AND t.tat_ms BETWEEN '-1e300'::float8 AND '1e300'::float8 THEN t.tat_ms END`;
  const permitExpiry = (g: string, keep: string): string =>
    `CASE WHEN ${g}.granted > 0 THEN now() + ${g}.ttl_ms * interval '1 millisecond' ELSE ${keep} END`;
  const recordsLive = live('r');
  // Counters, maxima and permit buckets are short-lived coordination state: their transaction commits
  // without waiting for the WAL flush (set for this transaction only, evaluated before the commit). A
  // database crash may lose their last fraction of a second; key/values and records stay durable.
  const asyncCommit = `set_config('synchronous_commit', 'off', true) AS async_commit`;

  return {
    get: `SELECT value, version, ${live('t')} AS live FROM ${n.kv} t WHERE t.k = $1`,
    forgetExpired: `DELETE FROM ${n.kv} WHERE k = $1 AND expires_at <= now()`,
    set:
      `INSERT INTO ${n.kv} AS t ${kvColumns} VALUES ($1, $2, NULL, 'value', ${nextVersion}, ${expiry('$3')}, now()) ` +
      `ON CONFLICT (k) DO UPDATE SET value = EXCLUDED.value, num = NULL, kind = 'value', version = ${nextVersion}, ` +
      `expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at RETURNING version`,
    setIfAbsent:
      `INSERT INTO ${n.kv} AS t ${kvColumns} VALUES ($1, $2, NULL, 'value', ${nextVersion}, ${expiry('$3')}, now()) ` +
      `ON CONFLICT (k) DO UPDATE SET value = EXCLUDED.value, num = NULL, kind = 'value', version = ${nextVersion}, ` +
      `expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at WHERE NOT ${live('t')} RETURNING version`,
    setIfVersion:
      `UPDATE ${n.kv} AS t SET value = $2, num = NULL, kind = 'value', version = ${nextVersion}, ` +
      `expires_at = ${expiry('$3')}, updated_at = now() WHERE t.k = $1 AND t.version = $4 AND ${live('t')} RETURNING version`,
    delete: `DELETE FROM ${n.kv} AS t WHERE t.k = $1 AND ${live('t')}`,
    deleteIfVersion: `DELETE FROM ${n.kv} AS t WHERE t.k = $1 AND t.version = $2 AND ${live('t')}`,
    increment:
      `INSERT INTO ${n.kv} AS t ${kvColumns} VALUES ($1, $2::float8::text, $2::float8, 'counter', ${nextVersion}, ${expiry('$3')}, now()) ` +
      `ON CONFLICT (k) DO UPDATE SET (num, value, kind, version, expires_at, updated_at) = (` +
      `SELECT x.n, x.n::text, 'counter', ${nextVersion}, x.e, now() FROM (SELECT ` +
      `CASE WHEN ${live('t')} THEN coalesce(${num('t')}, 0) + EXCLUDED.num ELSE EXCLUDED.num END AS n, ` +
      `CASE WHEN ${live('t')} THEN t.expires_at ELSE EXCLUDED.expires_at END AS e) x) ` +
      `RETURNING num, (extract(epoch FROM (expires_at - now())) * 1000)::float8 AS reset_ms, ${asyncCommit}`,
    raise:
      `INSERT INTO ${n.kv} AS t ${kvColumns} VALUES ($1, $2::float8::text, $2::float8, 'max', ${nextVersion}, ${expiry('$3')}, now()) ` +
      `ON CONFLICT (k) DO UPDATE SET (num, value, kind, version, expires_at, updated_at) = (SELECT ` +
      `CASE WHEN x.keep THEN x.cur ELSE EXCLUDED.num END, ` +
      `CASE WHEN x.keep THEN t.value ELSE EXCLUDED.value END, ` +
      `CASE WHEN x.keep THEN t.kind ELSE 'max' END, ` +
      `CASE WHEN x.keep THEN t.version ELSE ${nextVersion} END, ` +
      `CASE WHEN x.keep THEN t.expires_at ELSE EXCLUDED.expires_at END, ` +
      `CASE WHEN x.keep THEN t.updated_at ELSE now() END ` +
      `FROM (SELECT c.cur, coalesce(${live('t')} AND c.cur >= EXCLUDED.num, false) AS keep FROM (SELECT ${num('t')} AS cur) c) x) ` +
      `RETURNING num, ${asyncCommit}`,
    takePermits:
      `INSERT INTO ${n.permits} AS t (k, tat_ms, granted, retry_after_ms, limit_count, per_ms, burst, expires_at, updated_at) ` +
      `SELECT $1, g.tat_ms, g.granted, g.retry_after_ms, $3::float8, $4::float8, $5::float8, ${permitExpiry('g', 'now()')}, now() FROM (${gcra('NULL::float8')}) g ` +
      `ON CONFLICT (k) DO UPDATE SET (tat_ms, granted, retry_after_ms, limit_count, per_ms, burst, expires_at, updated_at) = (` +
      `SELECT CASE WHEN g.granted > 0 THEN g.tat_ms ELSE coalesce(${storedArrival}, g.now_ms) END, g.granted, g.retry_after_ms, ` +
      `EXCLUDED.limit_count, EXCLUDED.per_ms, EXCLUDED.burst, ` +
      `${permitExpiry('g', `CASE WHEN t.expires_at > now() THEN t.expires_at ELSE now() END`)}, now() ` +
      `FROM (${gcra(storedArrival)}) g) RETURNING granted, retry_after_ms, ${asyncCommit}`,
    getRecord: `SELECT value, version, ${recordsLive} AS live FROM ${n.records} r WHERE r.collection = $1 AND r.id = $2`,
    forgetExpiredRecord: `DELETE FROM ${n.records} WHERE collection = $1 AND id = $2 AND expires_at <= now()`,
    updateRecord:
      `UPDATE ${n.records} AS r SET value = $3, version = ${nextVersion}, updated_at = now() ` +
      `WHERE r.collection = $1 AND r.id = $2 AND ${recordsLive} RETURNING version`,
    updateRecordIfVersion:
      `UPDATE ${n.records} AS r SET value = $3, version = ${nextVersion}, updated_at = now() ` +
      `WHERE r.collection = $1 AND r.id = $2 AND r.version = $4 AND ${recordsLive} RETURNING version`,
    listRecords:
      `SELECT r.id, r.value, r.version FROM ${n.records} r WHERE r.collection = $1 AND ${recordsLive} ` +
      `ORDER BY r.seq DESC LIMIT $2`,
    listRecordsBefore:
      `SELECT r.id, r.value, r.version FROM ${n.records} r WHERE r.collection = $1 AND ${recordsLive} ` +
      `AND r.seq < (SELECT b.seq FROM ${n.records} b WHERE b.collection = $1 AND b.id = $3) ` +
      `ORDER BY r.seq DESC LIMIT $2`,
    removeRecord: `DELETE FROM ${n.records} AS r WHERE r.collection = $1 AND r.id = $2 AND ${recordsLive}`,
    countRecords: `SELECT count(*) AS count FROM ${n.records} r WHERE r.collection = $1 AND ${recordsLive}`,
    // Lock the collection row first: concurrent adds to one collection serialize, so the trim that
    // follows (a later statement, hence a fresh snapshot) sees every committed record.
    addRecord: (collection, id, value, maxRecords, ttlMs) =>
      `INSERT INTO ${n.collections} AS c (collection, max_records, updated_at) VALUES (${collection}, ${maxRecords}, now()) ` +
      `ON CONFLICT (collection) DO UPDATE SET max_records = EXCLUDED.max_records, updated_at = EXCLUDED.updated_at;\n` +
      `INSERT INTO ${n.records} AS r (collection, id, seq, value, version, created_at, updated_at, expires_at) ` +
      `VALUES (${collection}, ${id}, nextval('${n.recordSeq}'), ${value}, ${nextVersion}, now(), now(), ${expiry(ttlMs)}) ` +
      `ON CONFLICT (collection, id) DO UPDATE SET seq = nextval('${n.recordSeq}'), value = EXCLUDED.value, ` +
      `version = ${nextVersion}, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at;\n` +
      `DELETE FROM ${n.records} WHERE collection = ${collection} AND seq <= ` +
      `(SELECT seq FROM ${n.records} WHERE collection = ${collection} ORDER BY seq DESC OFFSET ${maxRecords} LIMIT 1)`,
    publishLarge:
      `WITH m AS (INSERT INTO ${n.messages} (channel, payload) VALUES ($2, $3) RETURNING id) ` +
      `SELECT pg_notify($1, json_build_array($2::text, NULL, m.id)::text) FROM m`,
    fetchMessage: `SELECT payload FROM ${n.messages} WHERE id = $1`,
    // Bounded batches; the expiry is re-checked on the row actually deleted, so a key revived
    // between the sub-select and the delete survives.
    sweep: [
      `DELETE FROM ${n.kv} WHERE k IN (SELECT k FROM ${n.kv} WHERE expires_at <= now() LIMIT 500) AND expires_at <= now()`,
      `DELETE FROM ${n.permits} WHERE k IN (SELECT k FROM ${n.permits} WHERE expires_at <= now() LIMIT 500) AND expires_at <= now()`,
      `DELETE FROM ${n.records} WHERE (collection, id) IN (SELECT collection, id FROM ${n.records} WHERE expires_at <= now() LIMIT 500) AND expires_at <= now()`,
      `DELETE FROM ${n.messages} WHERE id IN (SELECT id FROM ${n.messages} WHERE created_at < now() - $1::float8 * interval '1 millisecond' LIMIT 500)`,
    ],
  };
}

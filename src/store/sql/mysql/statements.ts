import { gcraSelect } from '../gcra-sql';
import type { SqlNames } from '../names';

/**
 * Every statement of the MySQL / MariaDB store (`?` placeholders, escaped by
 * mysql2 on the client).
 *
 * - Plain writes are one `INSERT … ON DUPLICATE KEY UPDATE` or `UPDATE`; the
 *   new version comes back in the OK packet through `LAST_INSERT_ID(expr)`,
 *   and success is the affected-row count (the pool turns `FOUND_ROWS` off,
 *   so a no-op update reports 0).
 * - Read-modify-write primitives (increment, raise, takePermits, addRecord)
 *   are one short transaction sent as one multi-statement round trip: make
 *   sure the row exists and lock it (`INSERT … ON DUPLICATE KEY UPDATE k = k`
 *   inserts an already-expired placeholder when absent), read it into
 *   session variables, write, select the result, commit.
 * - Time is the server's `UTC_TIMESTAMP(6)` (constant within a statement).
 *   Versions are `GREATEST(version + 1, <server clock in µs>)`: they grow on
 *   every write of a row and a re-created row starts above any version the
 *   deleted one had (unless the server's clock steps back across the
 *   delete); MySQL has no sequences to do better in one statement.
 */
export interface MysqlStatements {
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
  readonly addRecord: string;
  readonly getRecord: string;
  readonly forgetExpiredRecord: string;
  readonly updateRecord: string;
  readonly updateRecordIfVersion: string;
  readonly listRecords: string;
  readonly listRecordsBefore: string;
  readonly removeRecord: string;
  readonly countRecords: string;
  readonly publish: string;
  readonly poll: string;
  readonly lastMessageId: string;
  readonly sweep: readonly string[];
}

export const NOW = 'UTC_TIMESTAMP(6)';
/** Server time in microseconds since the epoch (fits a double exactly until the year 2255). */
const CLOCK_US = `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${NOW})`;
const PLACEHOLDER_EXPIRY = `'1970-01-01 00:00:01'`;
/** A client-side number made a DOUBLE (mysql2 writes 0.5 as a DECIMAL literal). */
const dbl = (expr: string): string => `(${expr} + 0e0)`;
const live = (t: string): string => `(${t}.expires_at IS NULL OR ${t}.expires_at > ${NOW})`;
/** ttl in microseconds (or NULL) to an expiry. */
const expiry = `TIMESTAMPADD(MICROSECOND, ?, ${NOW})`;

export function mysqlStatements(n: SqlNames): MysqlStatements {
  const num = (t: string): string =>
    `CASE WHEN ${t}.num IS NOT NULL THEN ${t}.num ` +
    `WHEN ${t}.value REGEXP '^-?[0-9]{1,15}([.][0-9]{1,15})?$' THEN ${t}.value + 0e0 END`;
  const ensureKv = (kind: string): string =>
    `INSERT INTO ${n.kv} (k, value, num, kind, version, expires_at, updated_at) ` +
    `VALUES (?, '', NULL, '${kind}', ${CLOCK_US}, ${PLACEHOLDER_EXPIRY}, ${NOW}) ON DUPLICATE KEY UPDATE k = k`;
  const dead = `(expires_at IS NOT NULL AND expires_at <= ${NOW})`;
  const gcra = gcraSelect({
    stored: '@baldur_stored',
    nowMs: `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', @baldur_now) / 1000e0)`,
    requested: '@baldur_req',
    limit: '@baldur_limit',
    perMs: '@baldur_per',
    burst: '@baldur_burst',
    double: literal => (literal.includes('e') ? literal : `${literal}e0`),
  });
  const recordsLive = live('r');

  return {
    get: `SELECT value, version, ${live('t')} AS live FROM ${n.kv} t WHERE t.k = ?`,
    forgetExpired: `DELETE FROM ${n.kv} WHERE k = ? AND expires_at <= ${NOW}`,
    // values: key, value, ttlUs, value, ttlUs
    set:
      `INSERT INTO ${n.kv} (k, value, num, kind, version, expires_at, updated_at) ` +
      `VALUES (?, ?, NULL, 'value', LAST_INSERT_ID(${CLOCK_US}), ${expiry}, ${NOW}) ON DUPLICATE KEY UPDATE ` +
      `value = ?, num = NULL, kind = 'value', version = LAST_INSERT_ID(GREATEST(version + 1, ${CLOCK_US})), ` +
      `updated_at = ${NOW}, expires_at = ${expiry}`,
    // Same values. `expires_at` is assigned last: the condition reads the old one in either
    // assignment semantics (MySQL's left-to-right, MariaDB's optional SIMULTANEOUS_ASSIGNMENT).
    setIfAbsent:
      `INSERT INTO ${n.kv} (k, value, num, kind, version, expires_at, updated_at) ` +
      `VALUES (?, ?, NULL, 'value', LAST_INSERT_ID(${CLOCK_US}), ${expiry}, ${NOW}) ON DUPLICATE KEY UPDATE ` +
      `value = IF(${dead}, ?, value), num = IF(${dead}, NULL, num), kind = IF(${dead}, 'value', kind), ` +
      `version = LAST_INSERT_ID(IF(${dead}, GREATEST(version + 1, ${CLOCK_US}), version)), ` +
      `updated_at = IF(${dead}, ${NOW}, updated_at), expires_at = IF(${dead}, ${expiry}, expires_at)`,
    // values: value, ttlUs, key, version
    setIfVersion:
      `UPDATE ${n.kv} t SET value = ?, num = NULL, kind = 'value', ` +
      `version = LAST_INSERT_ID(GREATEST(version + 1, ${CLOCK_US})), updated_at = ${NOW}, expires_at = ${expiry} ` +
      `WHERE t.k = ? AND t.version = ? AND ${live('t')}`,
    delete: `DELETE FROM ${n.kv} WHERE k = ? AND ${live(n.kv)}`,
    deleteIfVersion: `DELETE FROM ${n.kv} WHERE k = ? AND version = ? AND ${live(n.kv)}`,
    // values: key, delta, delta, windowUs, key, key
    increment: [
      'START TRANSACTION',
      ensureKv('counter'),
      `SELECT IF(${live('t')}, COALESCE(${num('t')}, 0e0) + ${dbl('?')}, ${dbl('?')}), ` +
        `IF(${live('t')}, t.expires_at, ${expiry}), ${NOW} ` +
        `INTO @baldur_n, @baldur_e, @baldur_now FROM ${n.kv} t WHERE t.k = ? FOR UPDATE`,
      `UPDATE ${n.kv} SET num = @baldur_n, value = CAST(@baldur_n AS CHAR), kind = 'counter', ` +
        `version = GREATEST(version + 1, ${CLOCK_US}), expires_at = @baldur_e, updated_at = @baldur_now WHERE k = ?`,
      `SELECT @baldur_n AS num, TIMESTAMPDIFF(MICROSECOND, @baldur_now, @baldur_e) / 1000e0 AS reset_ms`,
      'COMMIT',
    ].join(';\n'),
    // values: key, value, key, value, value, ttlUs, key, value
    raise: [
      'START TRANSACTION',
      ensureKv('max'),
      `SELECT COALESCE(${live('t')} AND ${num('t')} >= ${dbl('?')}, 0), ${num('t')} ` +
        `INTO @baldur_keep, @baldur_cur FROM ${n.kv} t WHERE t.k = ? FOR UPDATE`,
      `UPDATE ${n.kv} SET num = ${dbl('?')}, value = CAST(${dbl('?')} AS CHAR), kind = 'max', ` +
        `version = GREATEST(version + 1, ${CLOCK_US}), expires_at = ${expiry}, updated_at = ${NOW} ` +
        `WHERE k = ? AND @baldur_keep = 0`,
      `SELECT IF(@baldur_keep = 1, @baldur_cur, ${dbl('?')}) AS num`,
      'COMMIT',
    ].join(';\n'),
    // values: requested, limit, perMs, burst, key, key, key
    takePermits: [
      `SET @baldur_req = ${dbl('?')}, @baldur_limit = ${dbl('?')}, @baldur_per = ${dbl('?')}, @baldur_burst = ${dbl('?')}`,
      'START TRANSACTION',
      `INSERT INTO ${n.permits} (k, tat_ms, expires_at, updated_at) VALUES (?, 0e0, ${PLACEHOLDER_EXPIRY}, ${NOW}) ` +
        `ON DUPLICATE KEY UPDATE k = k`,
      `SELECT IF(t.expires_at > ${NOW}, t.tat_ms, NULL), IF(t.expires_at > ${NOW}, t.expires_at, NULL), ${NOW} ` +
        `INTO @baldur_stored, @baldur_exp, @baldur_now FROM ${n.permits} t WHERE t.k = ? FOR UPDATE`,
      `SELECT g.granted, g.retry_after_ms, g.tat_ms, g.ttl_ms INTO @baldur_g, @baldur_r, @baldur_t, @baldur_ttl FROM (${gcra}) g`,
      `UPDATE ${n.permits} SET granted = @baldur_g, retry_after_ms = @baldur_r, ` +
        `tat_ms = IF(@baldur_g > 0, @baldur_t, COALESCE(@baldur_stored, @baldur_t)), ` +
        `limit_count = @baldur_limit, per_ms = @baldur_per, burst = @baldur_burst, ` +
        `expires_at = IF(@baldur_g > 0, TIMESTAMPADD(MICROSECOND, ROUND(@baldur_ttl * 1000), @baldur_now), COALESCE(@baldur_exp, @baldur_now)), ` +
        `updated_at = @baldur_now WHERE k = ?`,
      `SELECT @baldur_g AS granted, @baldur_r AS retry_after_ms`,
      'COMMIT',
    ].join(';\n'),
    // values: collection, max, max, collection, id, collection, id, value, ttlUs, collection, collection, max.
    // Locking the collection row first serializes adds to one collection, so the trim is exact.
    addRecord: [
      'START TRANSACTION',
      `INSERT INTO ${n.collections} (collection, max_records, updated_at) VALUES (?, ?, ${NOW}) ` +
        `ON DUPLICATE KEY UPDATE max_records = ?, updated_at = ${NOW}`,
      `DELETE FROM ${n.records} WHERE collection = ? AND id = ?`,
      `INSERT INTO ${n.records} (collection, id, value, version, created_at, updated_at, expires_at) ` +
        `VALUES (?, ?, ?, ${CLOCK_US}, ${NOW}, ${NOW}, ${expiry})`,
      `DELETE FROM ${n.records} WHERE collection = ? AND seq <= ` +
        `(SELECT cut.seq FROM (SELECT seq FROM ${n.records} WHERE collection = ? ORDER BY seq DESC LIMIT 1 OFFSET ?) cut)`,
      'COMMIT',
    ].join(';\n'),
    getRecord: `SELECT value, version, ${recordsLive} AS live FROM ${n.records} r WHERE r.collection = ? AND r.id = ?`,
    forgetExpiredRecord: `DELETE FROM ${n.records} WHERE collection = ? AND id = ? AND expires_at <= ${NOW}`,
    // values: value, collection, id[, version]
    updateRecord:
      `UPDATE ${n.records} r SET value = ?, version = LAST_INSERT_ID(GREATEST(version + 1, ${CLOCK_US})), ` +
      `updated_at = ${NOW} WHERE r.collection = ? AND r.id = ? AND ${recordsLive}`,
    updateRecordIfVersion:
      `UPDATE ${n.records} r SET value = ?, version = LAST_INSERT_ID(GREATEST(version + 1, ${CLOCK_US})), ` +
      `updated_at = ${NOW} WHERE r.collection = ? AND r.id = ? AND r.version = ? AND ${recordsLive}`,
    listRecords:
      `SELECT r.id, r.value, r.version FROM ${n.records} r WHERE r.collection = ? AND ${recordsLive} ` +
      `ORDER BY r.seq DESC LIMIT ?`,
    // values: collection, collection, beforeId, limit
    listRecordsBefore:
      `SELECT r.id, r.value, r.version FROM ${n.records} r WHERE r.collection = ? AND ${recordsLive} ` +
      `AND r.seq < (SELECT b.seq FROM ${n.records} b WHERE b.collection = ? AND b.id = ?) ORDER BY r.seq DESC LIMIT ?`,
    removeRecord: `DELETE FROM ${n.records} WHERE collection = ? AND id = ? AND ${live(n.records)}`,
    countRecords: `SELECT COUNT(*) AS count FROM ${n.records} r WHERE r.collection = ? AND ${recordsLive}`,
    publish: `INSERT INTO ${n.messages} (channel, payload, created_at) VALUES (?, ?, ${NOW})`,
    poll: `SELECT id, channel, payload FROM ${n.messages} WHERE id > ? ORDER BY id LIMIT ?`,
    lastMessageId: `SELECT COALESCE(MAX(id), 0) AS id FROM ${n.messages}`,
    sweep: [
      `DELETE FROM ${n.kv} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT 500`,
      `DELETE FROM ${n.permits} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT 500`,
      `DELETE FROM ${n.records} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT 500`,
      `DELETE FROM ${n.messages} WHERE created_at < TIMESTAMPADD(MICROSECOND, -?, ${NOW}) ORDER BY created_at LIMIT 500`,
    ],
  };
}

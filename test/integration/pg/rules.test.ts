import { describe, expect, it } from 'vitest';
import { classifyPgError } from '../../../instrumentations/pg/classify';
import { isRepeatableRead, statementKind } from '../../../instrumentations/shared/sql-statements';

/**
 * The documented rules (instrumentations/pg/README.md) that decide what users
 * see: which statements a pool may repeat, what a statement does to the
 * session's transaction, and which PostgreSQL errors count against the
 * breaker. Shared by pg and mysql2.
 */
describe('SQL statements', () => {
  it.each([
    ['SELECT 1', true],
    ['  select * from t where id = $1', true],
    ['-- comment\nSELECT 1', true],
    ['/* hint */ SELECT 1', true],
    ['(SELECT 1) UNION (SELECT 2)', true],
    ['SELECT * FROM t FOR UPDATE', true],
    ['SHOW server_version', true],
    ['VALUES (1), (2)', true],
    ['TABLE t', true],
    ['EXPLAIN SELECT 1', true],
    ['WITH x AS (SELECT 1) SELECT * FROM x', true],
    ['SELECT 1;', true],
    ['SELECT * INTO new_table FROM t', false],
    ['SELECT 1 INTO @v', false],
    ['SELECT 1; DELETE FROM t', false],
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', false],
    ['EXPLAIN ANALYZE SELECT 1', false],
    ['EXPLAIN UPDATE t SET a = 1', false],
    ['INSERT INTO t VALUES (1)', false],
    ['UPDATE t SET a = 1', false],
    ['DELETE FROM t', false],
    ['CALL p()', false],
    ['SET search_path TO x', false],
    ['BEGIN', false],
    ['', false],
  ])('%j may be repeated: %s', (sql, repeatable) => {
    expect(isRepeatableRead(sql)).toBe(repeatable);
  });

  it.each([
    ['BEGIN', 'begin'],
    ['begin isolation level serializable', 'begin'],
    ['START TRANSACTION', 'begin'],
    ['start transaction read only', 'begin'],
    ['SET autocommit = 0', 'begin'],
    ['SET autocommit=OFF', 'begin'],
    ['SET @@session.autocommit = 1', 'commit'],
    ['COMMIT', 'commit'],
    ['END', 'commit'],
    ['ROLLBACK', 'rollback'],
    ['ROLLBACK WORK', 'rollback'],
    ['ABORT', 'rollback'],
    ['ROLLBACK TO SAVEPOINT s1', 'rollback_to'],
    ['rollback to s1', 'rollback_to'],
    ['SAVEPOINT s1', 'write'],
    ['START SLAVE', 'write'],
    ['SELECT 1', 'read'],
    ['INSERT INTO t VALUES (1)', 'write'],
  ])('%j is a %s', (sql, kind) => {
    expect(statementKind(sql)).toBe(kind);
  });
});

describe('PostgreSQL failure classification', () => {
  const sqlState = (code: string): Error => Object.assign(new Error(code), { code });

  it.each([
    ['08006', 'failure'], // connection_failure
    ['08001', 'failure'], // sqlclient_unable_to_establish_sqlconnection
    ['53300', 'failure'], // too_many_connections
    ['53100', 'failure'], // disk_full
    ['57P01', 'failure'], // admin_shutdown
    ['57P03', 'failure'], // cannot_connect_now
    ['58030', 'failure'], // io_error
    ['XX000', 'failure'], // internal_error
    ['40001', 'failure'], // serialization_failure
    ['40P01', 'failure'], // deadlock_detected
    ['57014', 'failure'], // query_canceled (statement_timeout)
    ['55P03', 'failure'], // lock_not_available (lock_timeout)
    ['23505', 'success'], // unique_violation
    ['23503', 'success'], // foreign_key_violation
    ['42601', 'success'], // syntax_error
    ['42501', 'success'], // insufficient_privilege
    ['42P01', 'success'], // undefined_table
    ['22012', 'success'], // division_by_zero
    ['28P01', 'success'], // invalid_password
    ['25P02', 'success'], // in_failed_sql_transaction
  ])('SQLSTATE %s is a %s for the breaker', (code, verdict) => {
    expect(classifyPgError(sqlState(code))).toBe(verdict);
  });

  it.each([
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'failure'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'failure'],
    [Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'failure'],
    [new Error('Connection terminated unexpectedly'), 'failure'],
    [new Error('Connection terminated due to connection timeout'), 'failure'],
    [new Error('timeout exceeded when trying to connect'), 'failure'],
    [new Error('Client has encountered a connection error and is not queryable'), 'failure'],
    [new Error('Query read timeout'), 'failure'],
    [new Error('Client was closed and is not queryable'), 'neutral'],
    [new Error('Cannot use a pool after calling end on the pool'), 'neutral'],
    [new TypeError('Client was passed a null or undefined query'), 'neutral'],
  ])('%s is a %s for the breaker', (error, verdict) => {
    expect(classifyPgError(error)).toBe(verdict);
  });
});

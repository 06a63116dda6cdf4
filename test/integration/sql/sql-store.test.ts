import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool as MysqlPool, PoolConnection as MysqlPoolConnection } from 'mysql2';
import type { Pool as PgPool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock';
import { DEAD_LETTER_COLLECTION } from '../../../src/core/policies/dead-letter/dead-letter-queue';
import {
  encodeDeadLetter,
  type DeadLetterEntry,
} from '../../../src/core/policies/dead-letter/entry';
import { IdempotencyGate } from '../../../src/core/policies/idempotency/idempotency-gate';
import { StoreError } from '../../../src/core/store-errors';
import { SqlStoreError, type SqlDialect } from '../../../src/store/sql/errors';
import { sqlNames } from '../../../src/store/sql/names';
import { sqlMigrationScript } from '../../../src/store/sql/script';
import { createStore } from '../../../src/store/create-store';
import { loadConfig } from '../../../src/config/load';
import { mysqlMigrations } from '../../../src/store/sql/mysql/schema';
import { postgresMigrations } from '../../../src/store/sql/postgres/schema';
import type { SqlStore } from '../../../src/store/sql/sql-store';
import { isInternal } from '../../../instrumentations/shared/internal';
import { serviceAvailable } from '../../support/services';
import { createSqlTestStore, dsnOf, PlainSql, uniquePrefix } from './support';

const REPO = join(__dirname, '../../..');
const MIGRATE_APP = join(REPO, 'test/fixtures/apps/sql-migrate.cjs');
const EXIT_APP = join(REPO, 'test/fixtures/apps/sql-exit.cjs');
const BUILT_STORE = join(REPO, 'build/src/store/sql/postgres/postgres-store.js');

function shippedMigrations(dialect: SqlDialect, prefix: string) {
  const names = sqlNames(dialect, prefix);
  return dialect === 'postgresql' ? postgresMigrations(names) : mysqlMigrations(names);
}

function deadLetter(id: string, overrides: Partial<DeadLetterEntry> = {}): DeadLetterEntry {
  return {
    v: 1,
    id,
    dependency: 'http:api.stripe.com:443',
    createdAtWallMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    status: 'pending',
    reason: 'failure',
    error: { name: 'Error', message: 'socket hang up', code: 'ECONNRESET' },
    args: [{ orderId: 42 }],
    argsPreview: undefined,
    argsBytes: 16,
    replayAttempts: 2,
    lastReplayAtWallMs: undefined,
    lastReplayError: undefined,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    ...overrides,
  };
}

/** Runs `node sql-migrate.cjs …` and resolves with its one JSON line. */
function migrateInChild(
  dialect: SqlDialect,
  prefix: string,
  startAt: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [MIGRATE_APP, dialect, dsnOf(dialect), prefix, String(startAt)],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.once('error', reject);
    child.once('exit', code => {
      clearTimeout(timer);
      const line = stdout.split('\n').find(l => l.startsWith('{'));
      if (line === undefined) {
        reject(new Error(`child exited ${code} without a result; stderr: ${stderr}`));
        return;
      }
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
  });
}

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('SQL stores', async () => {
  const available: Record<SqlDialect, boolean> = {
    postgresql: await serviceAvailable('postgres'),
    mysql: await serviceAvailable('mysql'),
  };
  for (const dialect of ['postgresql', 'mysql'] as const) {
    describe.runIf(available[dialect])(`SQL store (${dialect})`, () => {
      let sql: PlainSql;
      const prefixes: string[] = [];
      const stores: SqlStore[] = [];
      const prefix = (label: string): string => {
        const p = uniquePrefix(label);
        prefixes.push(p);
        return p;
      };
      const store = (keyPrefix: string, options: Parameters<typeof createSqlTestStore>[2] = {}) => {
        const s = createSqlTestStore(dialect, keyPrefix, options);
        stores.push(s);
        return s;
      };
      /** A quoted table or view name of `p`. */
      const name = (p: string, key: keyof ReturnType<typeof sqlNames>): string =>
        sqlNames(dialect, p)[key] as string;
      const ph = (i: number): string => (dialect === 'postgresql' ? `$${i}` : '?');

      beforeAll(() => {
        sql = PlainSql.open(dialect);
      });

      afterAll(async () => {
        await Promise.all(stores.map(s => s.close()));
        for (const p of prefixes) await sql.dropPrefix(p);
        for (const p of prefixes)
          await sql.query(
            `DROP TABLE IF EXISTS ${dialect === 'postgresql' ? `"${p}_probe_runs"` : `\`${p}_probe_runs\``}`,
          );
        // Nothing of this run is left on the shared server.
        for (const p of prefixes) expect(await sql.objectsOf(p)).toEqual([]);
        await sql.close();
      });

      describe('migrations', () => {
        it('applies each migration exactly once when several processes start together', async () => {
          expect(
            existsSync(BUILT_STORE),
            'run `npm run build` first: the child processes load build/',
          ).toBe(true);
          const p = prefix('race');
          const startAt = Date.now() + 1_500;
          const results = await Promise.all(
            Array.from({ length: 5 }, () => migrateInChild(dialect, p, startAt)),
          );
          for (const result of results)
            expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
          // Every version was applied by exactly one process…
          const applied = results.flatMap(r => r.applied as number[]).sort((a, b) => a - b);
          expect(applied).toEqual([1, 2, 1000]);
          for (const result of results) expect(result.version).toBe(1000);
          // …and its statements ran once: the probe migration inserts one row per execution.
          const runs = await sql.query<{ count: string | number }>(
            `SELECT COUNT(*) AS count FROM ${dialect === 'postgresql' ? `"${p}_probe_runs"` : `\`${p}_probe_runs\``}`,
          );
          expect(Number(runs[0]!.count)).toBe(1);
          const recorded = await sql.query<{ version: number }>(
            `SELECT version FROM ${name(p, 'migrations')} ORDER BY version`,
          );
          expect(recorded.map(r => Number(r.version))).toEqual([1, 2, 1000]);
        });

        it('re-running is a no-op', async () => {
          const p = prefix('rerun');
          const first = store(p);
          await first.start();
          expect(first.migrations).toMatchObject({ applied: [1, 2], version: 2, latest: 2 });
          const before = await sql.query(
            `SELECT version, applied_at FROM ${name(p, 'migrations')} ORDER BY version`,
          );
          const again = store(p);
          await again.start();
          expect(again.migrations).toMatchObject({ applied: [], version: 2, latest: 2 });
          expect(
            await sql.query(
              `SELECT version, applied_at FROM ${name(p, 'migrations')} ORDER BY version`,
            ),
          ).toEqual(before);
        });

        it('upgrades an older schema version and keeps its data', async () => {
          const p = prefix('upgrade');
          const old = store(p, {
            migrations: shippedMigrations(dialect, p).filter(m => m.version === 1),
          });
          await old.start();
          expect(old.migrations).toMatchObject({ applied: [1], version: 1, latest: 1 });
          const version = (await old.set('kept', 'from v1'))!;
          await old.addRecord(
            DEAD_LETTER_COLLECTION,
            'dl-old',
            encodeDeadLetter(deadLetter('dl-old')),
            {
              maxRecords: 10,
            },
          );
          await old.close();

          const current = store(p);
          await current.start();
          expect(current.migrations).toMatchObject({ applied: [2], version: 2, latest: 2 });
          expect(await current.get('kept')).toEqual({ value: 'from v1', version });
          const rows = await sql.query<{ id: string; status: string }>(
            `SELECT id, status FROM ${name(p, 'deadLettersView')}`,
          );
          expect(rows).toEqual([{ id: 'dl-old', status: 'pending' }]);
        });

        it('with migration off, refuses missing tables with a schema error and runs on an older schema', async () => {
          const p = prefix('nomig');
          const locked = store(p, { migrate: false });
          const error = await locked.get('x').catch((e: unknown) => e);
          expect(error).toBeInstanceOf(StoreError);
          expect(error).toBeInstanceOf(SqlStoreError);
          expect(error).toMatchObject({ reason: 'failed', failure: 'schema', operation: 'start' });
          expect((error as Error).message).toContain('sqlMigrate');
          // Nothing was created.
          expect(await sql.objectsOf(p)).toEqual([]);

          const v1 = store(p, {
            migrations: shippedMigrations(dialect, p).filter(m => m.version === 1),
          });
          await v1.start();
          const later = store(p, { migrate: false });
          expect(await later.set('k', 'v')).toBeGreaterThan(0);
          expect(later.migrations).toMatchObject({ applied: [], version: 1, latest: 2 });
        });
      });

      describe('configuration', () => {
        it('applies sqlMigrationScript by hand for a store that may not run DDL', async () => {
          const p = prefix('script');
          const script = sqlMigrationScript(dialect, p);
          await sql.script(script);
          await sql.script(script); // re-running it is harmless
          const locked = store(p, { migrate: false });
          await locked.start();
          expect(locked.migrations).toMatchObject({ applied: [], version: 2, latest: 2 });
          expect(await locked.set('k', 'v')).toBeGreaterThan(0);
          expect(
            await sql.query(`SELECT COUNT(*) AS n FROM ${name(p, 'deadLettersView')}`),
          ).toHaveLength(1);
        });

        it('never keeps the process alive: a process that used it (and subscribed) exits by itself', async () => {
          expect(
            existsSync(BUILT_STORE),
            'run `npm run build` first: the child process loads build/',
          ).toBe(true);
          const p = prefix('exit');
          const result = await new Promise<{ code: number | null; stdout: string }>(
            (resolve, reject) => {
              const child = spawn(process.execPath, [EXIT_APP, dialect, dsnOf(dialect), p], {
                cwd: REPO,
                stdio: ['ignore', 'pipe', 'inherit'],
              });
              let stdout = '';
              child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
              const timer = setTimeout(() => {
                child.kill('SIGKILL');
                reject(new Error(`the process did not exit by itself; stdout: ${stdout}`));
              }, 20_000);
              child.once('exit', code => {
                clearTimeout(timer);
                resolve({ code, stdout });
              });
            },
          );
          expect(result.code).toBe(0);
          expect(result.stdout).toContain('{"ok":true}');
        });

        it('is what createStore builds from BALDUR_SQL_DSN, behind the resilient decorator', async () => {
          const p = prefix('config');
          const { config } = loadConfig({
            files: false,
            env: {
              BALDUR_SQL_DSN: dsnOf(dialect),
              BALDUR_KEY_PREFIX: p,
              BALDUR_SQL_POOL_SIZE: '2',
              BALDUR_SQL_POLL_INTERVAL: '100ms',
              BALDUR_STORE_TIMEOUT: '5s',
            },
          });
          expect(config.store).toMatchObject({
            sqlPoolSize: 2,
            sqlPollInterval: 100,
            sqlMigrate: true,
          });
          const built = createStore(config)!;
          try {
            expect(built.kind).toBe(dialect);
            const version = await built.set('via-config', 'yes');
            expect(await built.get('via-config')).toEqual({ value: 'yes', version });
          } finally {
            await built.close();
          }
          const rows = await sql.query(`SELECT k FROM ${name(p, 'kv')}`);
          expect(rows).toHaveLength(1);
        });
      });

      describe('plain SQL', () => {
        let p: string;
        let s: SqlStore;

        beforeAll(async () => {
          p = prefix('views');
          s = store(p);
          await s.start();
        });

        it('shows dead letters as real columns', async () => {
          await s.addRecord(DEAD_LETTER_COLLECTION, 'dl-1', encodeDeadLetter(deadLetter('dl-1')), {
            maxRecords: 100,
          });
          await s.addRecord(
            DEAD_LETTER_COLLECTION,
            'dl-2',
            encodeDeadLetter(
              deadLetter('dl-2', {
                status: 'failed',
                reason: 'rejected',
                error: { name: 'CircuitOpenError', message: 'open', code: 'BALDUR_CIRCUIT_OPEN' },
                args: undefined,
                argsPreview: '[{"huge":',
                replayAttempts: 3,
                lastReplayAtWallMs: Date.UTC(2026, 0, 3),
                lastReplayError: 'still down',
              }),
            ),
            { maxRecords: 100 },
          );
          await s.addRecord('other-collection', 'not-a-dead-letter', '{}', { maxRecords: 100 });
          const rows = await sql.query<Record<string, unknown>>(
            `SELECT id, dependency, status, reason, error_name, error_code, replay_attempts, replayable,
                  args_preview, last_replay_error, trace_id, codec_version, failed_at, last_replay_at
             FROM ${name(p, 'deadLettersView')} ORDER BY position DESC`,
          );
          expect(rows).toHaveLength(2);
          expect(rows[0]).toMatchObject({
            id: 'dl-2',
            status: 'failed',
            reason: 'rejected',
            error_name: 'CircuitOpenError',
            error_code: 'BALDUR_CIRCUIT_OPEN',
            args_preview: '[{"huge":',
            last_replay_error: 'still down',
          });
          expect(Number(rows[0]!.replay_attempts)).toBe(3);
          expect(Boolean(Number(rows[0]!.replayable))).toBe(false);
          expect(rows[1]).toMatchObject({
            id: 'dl-1',
            dependency: 'http:api.stripe.com:443',
            status: 'pending',
            error_code: 'ECONNRESET',
            trace_id: '0af7651916cd43dd8448eb211c80319c',
          });
          expect(Boolean(Number(rows[1]!.replayable))).toBe(true);
          expect(Number(rows[1]!.codec_version)).toBe(1);
          // A real timestamp column: filter and format it in SQL.
          const failedAt =
            dialect === 'postgresql'
              ? await sql.query<{ t: string }>(
                  `SELECT to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS t FROM ${name(p, 'deadLettersView')} WHERE id = 'dl-1'`,
                )
              : await sql.query<{ t: string }>(
                  `SELECT DATE_FORMAT(failed_at, '%Y-%m-%d %H:%i:%s.%f') AS t FROM ${name(p, 'deadLettersView')} WHERE id = 'dl-1'`,
                );
          expect(failedAt[0]!.t.startsWith('2026-01-02 03:04:05.678')).toBe(true);
          const pending = await sql.query<{ n: string | number }>(
            `SELECT COUNT(*) AS n FROM ${name(p, 'deadLettersView')} WHERE status = ${ph(1)} AND dependency LIKE ${ph(2)}`,
            ['pending', 'http:%'],
          );
          expect(Number(pending[0]!.n)).toBe(1);
        });

        it('shows idempotency records written by the real gate', async () => {
          const gate = new IdempotencyGate(s, systemClock, 'instance-a');
          const claim = await gate.claim('idem:charge:order-7', 60_000, 600_000);
          expect(claim.kind).toBe('claimed');
          await gate.claim('idem:charge:order-8', 60_000, 600_000);
          await gate.complete(
            'idem:charge:order-7',
            (claim as { version: number }).version,
            '{"ok":true}',
            600_000,
          );
          const rows = await sql.query<Record<string, unknown>>(
            `SELECT scope_and_key, status, owner, has_result, result, started_at FROM ${name(p, 'idempotencyView')} ORDER BY scope_and_key`,
          );
          expect(
            rows.map(r => [
              r.scope_and_key,
              r.status,
              r.owner,
              Boolean(Number(r.has_result)),
              r.result,
            ]),
          ).toEqual([
            ['charge:order-7', 'completed', 'instance-a', true, '{"ok":true}'],
            ['charge:order-8', 'executing', 'instance-a', false, null],
          ]);
          expect(rows[0]!.started_at).not.toBeNull();
        });

        it('shows counters, maxima and rate-limit buckets', async () => {
          await s.increment('window:a', 3, 60_000);
          await s.increment('window:a', 2, 60_000);
          await s.raise('cooldown:b', 1_767_225_600_123, 60_000);
          await s.takePermits('bucket:c', { requested: 3, limit: 10, perMs: 60_000, burst: 10 });
          const windows = await sql.query<Record<string, unknown>>(
            `SELECT ${dialect === 'postgresql' ? 'key' : '`key`'} AS k, count FROM ${name(p, 'windowsView')}`,
          );
          expect(windows.map(r => [r.k, Number(r.count)])).toEqual([['window:a', 5]]);
          const maxima = await sql.query<Record<string, unknown>>(
            `SELECT ${dialect === 'postgresql' ? 'key' : '`key`'} AS k, value FROM ${name(p, 'maximaView')}`,
          );
          expect(maxima.map(r => [r.k, Number(r.value)])).toEqual([
            ['cooldown:b', 1_767_225_600_123],
          ]);
          const buckets = await sql.query<Record<string, unknown>>(
            `SELECT ${dialect === 'postgresql' ? 'key' : '`key`'} AS k, available_now, last_granted FROM ${name(p, 'rateLimitsView')}`,
          );
          expect(buckets.map(r => [r.k, Number(r.available_now), Number(r.last_granted)])).toEqual([
            ['bucket:c', 7, 3],
          ]);
        });
      });

      describe('robustness', () => {
        let p: string;
        let s: SqlStore;

        beforeAll(async () => {
          p = prefix('garbage');
          s = store(p);
          await s.start();
        });

        it('never crashes on malformed rows written by hand', async () => {
          const kv = name(p, 'kv');
          const records = name(p, 'records');
          const now = dialect === 'postgresql' ? 'now()' : 'UTC_TIMESTAMP(6)';
          const bin = (text: string): string => `'${text}'`;
          await sql.query(
            `INSERT INTO ${kv} (k, value, num, kind, version, expires_at, updated_at) VALUES
            (${bin('g:text')}, 'not a number', NULL, 'value', 5, NULL, ${now}),
            (${bin('g:json')}, '{"v":1,"status":"completed","result":', NULL, 'value', 6, NULL, ${now}),
            (${bin('idem:g:broken')}, '{"status":42,"startedAtWallMs":"yesterday","result":{"x":1}}', NULL, 'value', 7, NULL, ${now}),
            (${bin('idem:g:notjson')}, '<html>', NULL, 'value', 8, NULL, ${now}),
            (${bin('g:huge')}, '1e400', NULL, 'value', 9, NULL, ${now})`,
          );
          // Numeric primitives treat unusable text as absent (counter from 0, maximum replaced).
          expect((await s.increment('g:text', 2, 60_000)).value).toBe(2);
          expect(await s.raise('g:huge', 7, 60_000)).toBe(7);
          expect((await s.get('g:json'))?.value).toBe('{"v":1,"status":"completed","result":');
          // The real gate treats an unreadable claim as stale: it can be taken over, never crashes.
          const gate = new IdempotencyGate(s, systemClock, 'instance-b');
          expect(await gate.claim('g:json', 60_000, 60_000)).toMatchObject({
            kind: 'claimed',
            takeover: true,
          });

          const badLetters: [string, string][] = [
            ['bad-1', 'not json at all'],
            ['bad-2', '[1,2,3]'],
            ['bad-3', '"just a string"'],
            [
              'bad-4',
              '{"v":1,"createdAtWallMs":"yesterday","replayAttempts":1e400,"args":"x","error":"boom"}',
            ],
            [
              'bad-5',
              '{"v":1,"createdAtWallMs":-5,"lastReplayAtWallMs":99999999999999999999,"argsBytes":1.5e300}',
            ],
            ['bad-6', '{"dependency":{"nested":true},"status":null}'],
          ];
          for (const [id, value] of badLetters) {
            await s.addRecord(DEAD_LETTER_COLLECTION, id, value, { maxRecords: 100 });
          }
          await sql.query(
            `INSERT INTO ${records} (collection, id, seq, value, version, created_at, updated_at, expires_at)
             VALUES ('${DEAD_LETTER_COLLECTION}', 'bad-hand', ${dialect === 'postgresql' ? `nextval('${name(p, 'recordSeq')}')` : '999999'}, '{"broken', 1, ${now}, ${now}, NULL)`,
          );
          const rows = await sql.query<Record<string, unknown>>(
            `SELECT id, dependency, status, failed_at, replay_attempts, args, args_bytes, last_replay_at, valid_json
             FROM ${name(p, 'deadLettersView')} ORDER BY position`,
          );
          expect(rows.map(r => r.id)).toEqual([
            'bad-1',
            'bad-2',
            'bad-3',
            'bad-4',
            'bad-5',
            'bad-6',
            'bad-hand',
          ]);
          for (const row of rows) {
            expect(row.failed_at).toBeNull();
            expect(row.replay_attempts).toBeNull();
            expect(row.args).toBeNull();
            expect(row.last_replay_at).toBeNull();
          }
          const valid = (id: string): boolean =>
            Boolean(Number(rows.find(r => r.id === id)!.valid_json));
          expect([valid('bad-1'), valid('bad-2'), valid('bad-6'), valid('bad-hand')]).toEqual([
            false,
            false,
            true,
            false,
          ]);
          expect(String(rows[5]!.dependency)).toContain('"nested"');
          const idem = await sql.query<Record<string, unknown>>(
            `SELECT scope_and_key, status, started_at, has_result FROM ${name(p, 'idempotencyView')} ORDER BY scope_and_key`,
          );
          expect(idem.map(r => [r.scope_and_key, r.status, r.started_at])).toEqual([
            ['g:broken', '42', null],
            ['g:notjson', null, null],
          ]);
          // And the store still lists and counts them.
          expect(await s.countRecords(DEAD_LETTER_COLLECTION)).toBe(7);
          expect(
            (await s.listRecords(DEAD_LETTER_COLLECTION, { limit: 3 })).map(r => r.id),
          ).toEqual(['bad-hand', 'bad-6', 'bad-5']);
        });

        it('shares one key space: numbers written by set() count for increment and raise', async () => {
          await s.set('shared:counter', '5');
          expect((await s.increment('shared:counter', 1, 60_000)).value).toBe(6);
          expect((await s.get('shared:counter'))?.value).toBe('6');
          await s.set('shared:max', '10');
          expect(await s.raise('shared:max', 5, 60_000)).toBe(10);
          expect(await s.raise('shared:max', 12.5, 60_000)).toBe(12.5);
          expect((await s.get('shared:max'))?.value).toBe('12.5');
        });

        it('treats a corrupt permit bucket as a fresh one', async () => {
          const permits = name(p, 'permits');
          const bad = dialect === 'postgresql' ? `'NaN'::float8` : '-1e300';
          const later =
            dialect === 'postgresql'
              ? `now() + interval '1 hour'`
              : 'UTC_TIMESTAMP(6) + INTERVAL 1 HOUR';
          if (dialect === 'postgresql') {
            await sql.query(
              `INSERT INTO ${permits} (k, tat_ms, expires_at, updated_at) VALUES ('g:bucket', ${bad}, ${later}, now())`,
            );
          } else {
            await sql.query(
              `INSERT INTO ${permits} (k, tat_ms, expires_at, updated_at) VALUES ('g:bucket', ${bad}, ${later}, UTC_TIMESTAMP(6))`,
            );
          }
          const grant = await s.takePermits('g:bucket', {
            requested: 50,
            limit: 5,
            perMs: 60_000,
            burst: 5,
          });
          expect(grant).toEqual({ granted: 5, retryAfterMs: 0 });
          expect(
            (await s.takePermits('g:bucket', { requested: 1, limit: 5, perMs: 60_000, burst: 5 }))
              .granted,
          ).toBe(0);
        });

        it('stores keys longer than the column, and keys with NUL, without collisions', async () => {
          const long = `idem:route:${'k'.repeat(3_000)}`;
          const longer = `${long}x`;
          const nul = 'with\0nul';
          const v1 = await s.set(long, 'a');
          const v2 = await s.set(longer, 'b');
          const v3 = await s.set(nul, 'c');
          expect(await s.get(long)).toEqual({ value: 'a', version: v1 });
          expect(await s.get(longer)).toEqual({ value: 'b', version: v2 });
          expect(await s.get(nul)).toEqual({ value: 'c', version: v3 });
          expect(await s.get('withnul')).toBeUndefined();
          expect((await s.increment(long, 1, 60_000)).value).toBe(1);
        });

        it('refuses record names that do not fit with a typed error', async () => {
          const error = await s
            .addRecord('c', 'x'.repeat(300), 'v', { maxRecords: 10 })
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(StoreError);
          expect(error).toMatchObject({
            reason: 'failed',
            failure: 'rejected',
            operation: 'addRecord',
          });
        });

        it('delivers messages larger than a NOTIFY payload', async () => {
          const big = `{"blob":"${'é'.repeat(9_000)}"}`;
          const received: string[] = [];
          const other = store(p);
          const subscription = await other.subscribe('big', m => received.push(m));
          await s.publish('big', big);
          await s.publish('big', 'small');
          for (let i = 0; i < 500 && received.length < 2; i++)
            await new Promise(r => setTimeout(r, 10));
          expect([...received].sort()).toEqual([big, 'small'].sort());
          await subscription.unsubscribe();
        });

        it('sweeps expired rows and old messages in bounded batches', async () => {
          await s.set('sweep:a', 'x', { ttlMs: 1 });
          await s.addRecord('sweep', 'r', 'x', { maxRecords: 10, ttlMs: 1 });
          await s.takePermits('sweep:b', { requested: 1, limit: 1000, perMs: 1, burst: 1 });
          await new Promise(r => setTimeout(r, 50));
          expect(await s.sweep()).toBeGreaterThanOrEqual(3);
          const left = await sql.query(`SELECT k FROM ${name(p, 'kv')} WHERE k = 'sweep:a'`);
          expect(left).toEqual([]);
        });

        it('marks every connection it uses as the agent’s own (never policed or instrumented)', async () => {
          await s.get('anything');
          const internals = s as unknown as { pool: unknown };
          expect(isInternal(internals.pool)).toBe(true);
          if (dialect === 'postgresql') {
            const pool = internals.pool as PgPool;
            const client = await pool.connect();
            expect(isInternal(client)).toBe(true);
            client.release();
          } else {
            const pool = internals.pool as MysqlPool;
            const connection = await new Promise<MysqlPoolConnection>((resolve, reject) =>
              pool.getConnection((error, c) => (error ? reject(error) : resolve(c))),
            );
            expect(isInternal(connection)).toBe(true);
            connection.release();
          }
        });
      });

      describe('typed errors', () => {
        it('fails fast with an unavailable StoreError when nothing listens', async () => {
          const dead = createSqlTestStore(
            dialect,
            uniquePrefix('dead'),
            { connectTimeoutMs: 1_000 },
            dsnOf(dialect).replace(/:(5432|3306)\//, ':1/'),
          );
          stores.push(dead);
          const error = await dead.get('k').catch((e: unknown) => e);
          expect(error).toBeInstanceOf(StoreError);
          expect(error).toMatchObject({
            reason: 'unavailable',
            failure: 'unavailable',
            code: 'ECONNREFUSED',
          });
          // Within the fail-fast window, the next call is refused without another connection attempt.
          expect(await dead.set('k', 'v').catch((e: unknown) => e)).toBe(error);
        });

        it('rejects with a closed StoreError after close', async () => {
          const s = store(prefix('closed'));
          await s.start();
          await s.close();
          await expect(s.get('k')).rejects.toMatchObject({ reason: 'closed' });
          await expect(s.close()).resolves.toBeUndefined();
        });
      });
    });
  }
});

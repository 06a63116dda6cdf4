import type { Logger } from '../../../log';
import { SqlStoreError } from '../errors';
import {
  latestVersion,
  migrationsTableSql,
  acceptExistingSchema,
  type Migration,
  type MigrationReport,
} from '../migrations';
import { lockName, type SqlNames } from '../names';

/** Runs one statement on the migration connection. */
export type MysqlQuery = <T = unknown>(sql: string, values?: unknown[]) => Promise<T>;

/** The recorded schema version, or undefined when the migrations table does not exist. */
export async function mysqlSchemaVersion(
  query: MysqlQuery,
  names: SqlNames,
): Promise<number | undefined> {
  const tables = await query<{ count: number }[]>(
    'SELECT COUNT(*) AS count FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
    [names.raw.migrations],
  );
  if (Number(tables[0]?.count ?? 0) === 0) return undefined;
  const rows = await query<{ version: number | null }[]>(
    `SELECT MAX(version) AS version FROM ${names.migrations}`,
  );
  return Number(rows[0]?.version ?? 0);
}

/**
 * Apply the pending migrations exactly once across processes: a named
 * `GET_LOCK` (server-wide, held by this connection) serializes migrators, and
 * the applied versions are re-read once it is held. MySQL DDL commits
 * implicitly, so each statement is idempotent and each version is recorded
 * right after its statements: a run cut short is completed by the next one.
 * (GET_LOCK is per server: on a multi-primary cluster, start one process
 * first or apply `sqlMigrationScript` by hand.)
 */
export async function migrateMysql(
  query: MysqlQuery,
  names: SqlNames,
  migrations: readonly Migration[],
  timeoutMs: number,
  logger: Logger | undefined,
): Promise<MigrationReport> {
  const latest = latestVersion(migrations);
  const before = await mysqlSchemaVersion(query, names);
  if (before !== undefined && before >= latest) return { applied: [], version: before, latest };

  const database = (await query<{ db: string | null }[]>('SELECT DATABASE() AS db'))[0]?.db ?? '';
  const lock = lockName(`${database}\0${names.prefix}`);
  const got = await query<{ got: number | null }[]>('SELECT GET_LOCK(?, ?) AS got', [
    lock,
    Math.max(1, Math.ceil(timeoutMs / 1000)),
  ]);
  if (Number(got[0]?.got) !== 1) {
    throw new SqlStoreError(
      `MySQL store: another process held the migration lock for prefix "${names.prefix}" longer than ${timeoutMs} ms`,
      'timeout',
      'mysql',
      'start',
    );
  }
  const applied: number[] = [];
  try {
    await query(migrationsTableSql('mysql', names));
    const done = new Set(
      (await query<{ version: number }[]>(`SELECT version FROM ${names.migrations}`)).map(row =>
        Number(row.version),
      ),
    );
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) await query(statement);
      await query(
        `INSERT INTO ${names.migrations} (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))`,
        [migration.version, migration.name],
      );
      applied.push(migration.version);
    }
  } finally {
    await query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
  }
  if (applied.length > 0) {
    logger?.info(
      `MySQL store: applied schema migration(s) ${applied.join(', ')} for prefix "${names.prefix}"`,
    );
  }
  const version = (await mysqlSchemaVersion(query, names)) ?? 0;
  return { applied, version, latest };
}

/** With migration off: refuse to run on a schema older than the store's statements need. */
export async function checkMysqlSchema(
  query: MysqlQuery,
  names: SqlNames,
  migrations: readonly Migration[],
  logger: Logger | undefined,
): Promise<MigrationReport> {
  return acceptExistingSchema(
    'mysql',
    await mysqlSchemaVersion(query, names),
    names,
    migrations,
    logger,
  );
}

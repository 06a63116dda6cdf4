import type { Client } from 'pg';
import type { Logger } from '../../../log';
import {
  latestVersion,
  migrationsTableSql,
  acceptExistingSchema,
  type Migration,
  type MigrationReport,
} from '../migrations';
import { lockKey, type SqlNames } from '../names';

/** First key of the advisory lock pair: "Bald". */
const LOCK_CLASS = 0x42616c64;

/** The recorded schema version, or undefined when the migrations table does not exist. */
export async function postgresSchemaVersion(
  client: Client,
  names: SqlNames,
): Promise<number | undefined> {
  const present = await client.query<{ present: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS present',
    [names.migrations],
  );
  if (present.rows[0]?.present !== true) return undefined;
  const result = await client.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${names.migrations}`,
  );
  return result.rows[0]?.version ?? 0;
}

/**
 * Apply the pending migrations, exactly once however many processes start
 * together: everything runs in one transaction holding a transaction-level
 * advisory lock (so it also works behind PgBouncer in transaction mode), and
 * the applied versions are re-read after the lock is taken. PostgreSQL DDL
 * is transactional: a failing migration leaves no trace.
 */
export async function migratePostgres(
  client: Client,
  names: SqlNames,
  migrations: readonly Migration[],
  timeoutMs: number,
  logger: Logger | undefined,
): Promise<MigrationReport> {
  const latest = latestVersion(migrations);
  const before = await postgresSchemaVersion(client, names);
  if (before !== undefined && before >= latest) return { applied: [], version: before, latest };

  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.ceil(timeoutMs)}`);
    await client.query(`SET LOCAL lock_timeout = ${Math.ceil(timeoutMs)}`);
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, lockKey(names.prefix)]);
    await client.query(migrationsTableSql('postgresql', names));
    const done = new Set(
      (await client.query<{ version: number }>(`SELECT version FROM ${names.migrations}`)).rows.map(
        row => row.version,
      ),
    );
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) await client.query(statement);
      await client.query(`INSERT INTO ${names.migrations} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  if (applied.length > 0) {
    logger?.info(
      `PostgreSQL store: applied schema migration(s) ${applied.join(', ')} for prefix "${names.prefix}"`,
    );
  }
  const version = (await postgresSchemaVersion(client, names)) ?? 0;
  return { applied, version, latest };
}

/** With migration off: refuse to run on a schema older than the store's statements need. */
export async function checkPostgresSchema(
  client: Client,
  names: SqlNames,
  migrations: readonly Migration[],
  logger: Logger | undefined,
): Promise<MigrationReport> {
  return acceptExistingSchema(
    'postgresql',
    await postgresSchemaVersion(client, names),
    names,
    migrations,
    logger,
  );
}

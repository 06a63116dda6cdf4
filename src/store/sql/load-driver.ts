import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SqlStoreError, type SqlDialect } from './errors';

/**
 * The SQL drivers are the application's own (optional peer dependencies of
 * Baldur): they are loaded only when a SQL store is configured, first as
 * Baldur itself would resolve them, then from the application's directory
 * (global or linked installs of Baldur).
 */
export function loadDriver<T>(name: 'pg' | 'mysql2', dialect: SqlDialect): T {
  const attempts = [createRequire(__filename), createRequire(join(process.cwd(), 'noop.js'))];
  let lastError: unknown;
  for (const requireFrom of attempts) {
    try {
      return requireFrom(name) as T;
    } catch (error) {
      lastError = error;
      if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  throw new SqlStoreError(
    `the ${dialect === 'postgresql' ? 'PostgreSQL' : 'MySQL'} store needs the "${name}" package: install it next to Baldur (npm install ${name})`,
    'rejected',
    dialect,
    'start',
    { cause: lastError },
  );
}

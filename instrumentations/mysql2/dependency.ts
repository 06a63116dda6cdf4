import type { DependencyDescriptor } from '../../src/config/match';

/** The `system` of MySQL / MariaDB dependencies (config `match.system`, key prefix). */
export const MYSQL_SYSTEM = 'mysql';

/** The parts of mysql2's `ConnectionConfig` a dependency is keyed on. */
export interface MysqlConfig {
  readonly host?: unknown;
  readonly port?: unknown;
  readonly socketPath?: unknown;
  readonly database?: unknown;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * `mysql:<host>:<port>/<database>` from a connection's config (a pool's
 * `config.connectionConfig`, a connection's `config`). mysql2 fills in
 * `localhost` and 3306; a Unix socket path stands in for the host.
 */
export function mysqlDescriptor(config: MysqlConfig | undefined): DependencyDescriptor {
  const port = Number(config?.port);
  return {
    system: MYSQL_SYSTEM,
    host: text(config?.socketPath) ?? text(config?.host) ?? 'localhost',
    port: Number.isInteger(port) && port > 0 ? port : 3306,
    database: text(config?.database),
  };
}

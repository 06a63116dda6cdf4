import type { DependencyDescriptor } from '../../src/config/match';

/** The `system` of PostgreSQL dependencies (config `match.system`, key prefix). */
export const PG_SYSTEM = 'postgresql';

/** What pg resolved a client's target to (`client.connectionParameters`). */
export interface PgParameters {
  readonly host?: unknown;
  readonly port?: unknown;
  readonly database?: unknown;
  readonly user?: unknown;
}

/** pg's `ConnectionParameters` class, captured when pg loads it (it applies PG* env vars and URLs). */
export type ConnectionParametersClass = new (config: unknown) => PgParameters;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `postgresql:<host>:<port>/<database>` for the parameters pg connects with. */
export function pgDescriptor(parameters: PgParameters): DependencyDescriptor {
  const port = Number(parameters.port);
  return {
    system: PG_SYSTEM,
    host: text(parameters.host) ?? 'localhost',
    port: Number.isInteger(port) && port > 0 ? port : 5432,
    database: text(parameters.database) ?? text(parameters.user),
  };
}

/** A pg `Client`: pg has already resolved its parameters. */
export function clientDescriptor(client: {
  connectionParameters?: PgParameters;
  host?: unknown;
  port?: unknown;
  database?: unknown;
}): DependencyDescriptor {
  return pgDescriptor(client.connectionParameters ?? client);
}

/**
 * A pg `Pool`: resolved the way its clients will resolve them (pool options,
 * `connectionString`, PG* environment variables, defaults), so that pool-level
 * and client-level calls share one dependency and one breaker.
 */
export function poolDescriptor(
  options: Record<string, unknown> | undefined,
  ConnectionParameters: ConnectionParametersClass | undefined,
): DependencyDescriptor {
  if (ConnectionParameters !== undefined) {
    try {
      return pgDescriptor(new ConnectionParameters(options ?? {}));
    } catch {
      // Invalid options: the pool's clients will fail to connect on their own; key on what was given.
    }
  }
  return pgDescriptor(options ?? {});
}

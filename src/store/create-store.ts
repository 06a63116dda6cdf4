import type { Clock } from '../core/clock';
import type { StateStore } from '../core/store';
import type { BaldurConfig } from '../config/load';
import type { Logger } from '../log';
import { RedisStore } from './redis/redis-store';
import { ResilientStore } from './resilient-store';
import { createSqlStore } from './sql/create-sql-store';

export interface CreateStoreOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/**
 * The state store the configuration asks for, or `undefined` for the default
 * in-process memory store (the engine builds that one with its own clock).
 * Every networked store is wrapped in the ResilientStore, the outage contract.
 * Nothing connects here: the first store call (or probe) does, so a store
 * that is down never delays startup. Throws a `ConfigError` for a bad URL or a
 * missing client library.
 */
export function createStore(
  config: BaldurConfig,
  options: CreateStoreOptions = {},
): StateStore | undefined {
  const store = config.store;
  let backend: { store: StateStore; description: string } | undefined;
  if (store.redisUrl !== undefined) {
    const redis = new RedisStore({
      url: store.redisUrl,
      credentials: {
        username: store.redisUsername,
        password: store.redisPassword,
        sentinelPassword: store.redisSentinelPassword,
      },
      keyPrefix: store.keyPrefix,
      timeoutMs: store.timeout,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    backend = { store: redis, description: redis.describe() };
  } else if (store.sqlDsn !== undefined) {
    const sql = createSqlStore(config, options);
    backend = { store: sql, description: sql.describe() };
  }
  if (backend === undefined) return undefined;
  options.logger?.info(`shared state in ${backend.description}`);
  return new ResilientStore(backend.store, {
    timeoutMs: store.timeout,
    description: backend.description,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
}

/**
 * For the agent, which must never fail the host application: a store that
 * cannot be built (ioredis not installed) is reported and state stays in
 * memory. Spread into the Engine's options.
 */
export function storeOptionForAgent(config: BaldurConfig, logger: Logger): { store?: StateStore } {
  try {
    const store = createStore(config, { logger });
    return store === undefined ? {} : { store };
  } catch (error) {
    logger.error(
      `${error instanceof Error ? error.message : String(error)}; shared state stays in process memory`,
    );
    return {};
  }
}

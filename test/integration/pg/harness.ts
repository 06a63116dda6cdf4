import pg from 'pg';
import { startApp, type RunningApp } from '../../support/run-app';
import { SqlRig } from '../../support/service-rig';
import { SERVICES } from '../../support/services';
import { sleep, until } from '../../support/wait';
export { FAST_RETRY, testPolicies } from '../../support/policies';

/**
 * Test rig for the pg instrumentation: the real PostgreSQL behind a
 * FaultProxy, a config file, names unique to the run for the tables and
 * sequences a test creates, and the command-driven app
 * (test/fixtures/apps/pg-driver.{cjs,mjs}) in a child process.
 */
export const POSTGRES = SERVICES.postgres;
export const PG_USER = 'postgres';
export const PG_DATABASE = 'test';

export type Result = Record<string, any>;

export class Rig extends SqlRig {
  constructor(config: Record<string, unknown>) {
    super(POSTGRES, 'pg', config);
  }

  /** Run SQL directly against PostgreSQL (no agent in the test process). */
  async sql(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    const client = new pg.Client({
      host: POSTGRES.host,
      port: POSTGRES.port,
      user: PG_USER,
      database: PG_DATABASE,
    });
    await client.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  }
}

export interface DriverOptions {
  readonly preload?: 'require' | 'import' | 'none';
  readonly nodeArgs?: string[];
  readonly env?: Record<string, string>;
  /** Where the app's connections go (a proxy port), default the real server. */
  readonly port?: number;
  /** Extra pg.Pool options. */
  readonly pool?: Record<string, unknown>;
}

/** The driver app: send a command, get its result line. */
export class Driver {
  private next = 0;

  private constructor(readonly app: RunningApp) {}

  static async start(
    app: string,
    rig: Rig | undefined,
    options: DriverOptions = {},
  ): Promise<Driver> {
    const running = startApp({
      app,
      ...(options.preload === undefined ? {} : { preload: options.preload }),
      ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
      env: {
        BALDUR_OTEL_SDK: 'off',
        PG_HOST: POSTGRES.host,
        PG_PORT: String(options.port ?? POSTGRES.port),
        PG_USER,
        PG_DATABASE,
        PG_POOL: JSON.stringify(options.pool ?? {}),
        ...(rig === undefined ? {} : { BALDUR_CONFIG_FILE: rig.configFile }),
        ...options.env,
      },
      timeoutMs: 60_000,
    });
    await running.waitFor(m => m.ready === true);
    return new Driver(running);
  }

  call(command: Record<string, unknown>, timeoutMs?: number): Promise<Result> {
    const id = `c${++this.next}`;
    this.app.send({ ...command, id });
    return this.app.waitFor(m => m.id === id, timeoutMs);
  }

  /** `pool.query(sql, values?)` in promise or callback form. */
  poolQuery(
    sql: string,
    form: 'promise' | 'callback' = 'promise',
    values?: unknown[],
  ): Promise<Result> {
    return this.call({ op: 'query', via: 'pool', sql, form, values });
  }

  /** `client.query(sql, values?)` on a checked-out (`connect`) or standalone (`client`) client. */
  clientQuery(
    client: string,
    sql: string,
    form: 'promise' | 'callback' = 'promise',
    values?: unknown[],
  ): Promise<Result> {
    return this.call({ op: 'query', via: 'client', client, sql, form, values });
  }

  /** Baldur events the app reported so far. */
  events(type?: string): Result[] {
    return this.app.messages.filter(
      m => m.event !== undefined && (type === undefined || m.event === type),
    );
  }

  async stop(): Promise<void> {
    if (this.app.child.exitCode === null) {
      this.app.send({ op: 'exit' });
      await this.app.exited;
    }
  }
}

export { sleep, until };

import mysql from 'mysql2/promise';
import { startApp, type RunningApp } from '../../support/run-app';
import { SqlRig } from '../../support/service-rig';
import { SERVICES } from '../../support/services';
import { sleep, until } from '../../support/wait';
export { FAST_RETRY, testPolicies } from '../../support/policies';

/**
 * Test rig for the mysql2 instrumentation: the real MariaDB behind a
 * FaultProxy, a config file, names unique to the run for the tables and
 * functions a test creates, and the command-driven app
 * (test/fixtures/apps/mysql2-driver.{cjs,mjs}) in a child process.
 */
export const MYSQL = SERVICES.mysql;
export const MYSQL_USER = 'root';
export const MYSQL_DATABASE = 'test';

export type Result = Record<string, any>;

export class Rig extends SqlRig {
  constructor(config: Record<string, unknown>) {
    super(MYSQL, 'mysql2', config);
  }

  /** Run SQL directly against MariaDB (no agent in the test process). */
  async sql(text: string, values?: unknown[]): Promise<any> {
    const connection = await mysql.createConnection({
      host: MYSQL.host,
      port: MYSQL.port,
      user: MYSQL_USER,
      database: MYSQL_DATABASE,
    });
    try {
      const [rows] = await connection.query(text, values);
      return rows;
    } finally {
      await connection.end();
    }
  }

  /**
   * A function that kills its own connection the first time it runs
   * (KILL CONNECTION_ID(), gated by a counter in a non-transactional table)
   * and returns how many times it ran.
   */
  async killFirstFunction(base: string): Promise<{ fn: string; runs: () => Promise<number> }> {
    const counter = this.name(`${base}_runs`);
    const fn = this.name(`${base}_fn`);
    await this.create(
      `CREATE TABLE ${counter} (n INT) ENGINE=MyISAM`,
      `DROP TABLE IF EXISTS ${counter}`,
    );
    await this.sql(`INSERT INTO ${counter} VALUES (0)`);
    await this.create(
      `CREATE FUNCTION ${fn}() RETURNS INT MODIFIES SQL DATA BEGIN
         UPDATE ${counter} SET n = n + 1;
         IF (SELECT n FROM ${counter}) = 1 THEN KILL CONNECTION_ID(); END IF;
         RETURN (SELECT n FROM ${counter});
       END`,
      `DROP FUNCTION IF EXISTS ${fn}`,
    );
    return { fn, runs: async () => Number((await this.sql(`SELECT n FROM ${counter}`))[0].n) };
  }
}

export interface DriverOptions {
  readonly preload?: 'require' | 'import' | 'none';
  readonly nodeArgs?: string[];
  readonly env?: Record<string, string>;
  /** Where the app's connections go (a proxy port), default the real server. */
  readonly port?: number;
  /** Extra createPool options. */
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
        MYSQL_HOST: MYSQL.host,
        MYSQL_PORT: String(options.port ?? MYSQL.port),
        MYSQL_USER,
        MYSQL_DATABASE,
        MYSQL_POOL: JSON.stringify(options.pool ?? {}),
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

  /**
   * Run `sql` through `via` ('pool', 'promisePool', or a connection's name)
   * with `method` ('query' | 'execute') in `form` ('callback' | 'promise' | 'emitter').
   */
  run(
    via: string,
    sql: string,
    form: 'callback' | 'promise' | 'emitter' = 'callback',
    options: { method?: 'query' | 'execute'; values?: unknown[] } = {},
  ): Promise<Result> {
    const isPool = via === 'pool' || via === 'promisePool';
    return this.call({
      op: 'run',
      via: isPool ? via : 'connection',
      name: via,
      sql,
      form,
      ...options,
    });
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

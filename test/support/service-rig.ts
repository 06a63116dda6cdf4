import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultProxy } from './fault-proxy';

/**
 * What every client-instrumentation suite's rig has: a Baldur config file in a
 * temporary folder, a random tag unique to the run (for names on the shared
 * server), and FaultProxies in front of the real server. Subclasses add how
 * they talk to the server directly and what they clean up there.
 */
export class ServiceRig {
  /** Unique to this run: tables, keys and the like on the shared server carry it. */
  readonly suffix = randomBytes(4).toString('hex');
  readonly proxies: FaultProxy[] = [];
  private readonly dir: string;
  readonly configFile: string;

  constructor(
    private readonly target: { readonly host: string; readonly port: number },
    label: string,
    config: Record<string, unknown>,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `baldur-${label}-`));
    this.configFile = join(this.dir, 'baldur.config.json');
    writeFileSync(this.configFile, JSON.stringify({ version: 1, ...config }));
  }

  /** A rig whose config has `policies` as its defaults (plus `extra` top-level keys). */
  static withDefaults<R>(
    this: new (config: Record<string, unknown>) => R,
    policies: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): R {
    return new this({ defaults: policies, ...extra });
  }

  async proxy(): Promise<FaultProxy> {
    const proxy = await new FaultProxy({
      targetHost: this.target.host,
      targetPort: this.target.port,
    }).start();
    this.proxies.push(proxy);
    return proxy;
  }

  /** Stop the proxies and remove the config folder. */
  async stop(): Promise<void> {
    for (const proxy of this.proxies) await proxy.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A rig for a SQL server: unique object names, objects created now and dropped at `stop()`. */
export abstract class SqlRig extends ServiceRig {
  private readonly cleanups: string[] = [];

  /** Run SQL directly against the server (no agent in the test process). */
  abstract sql(text: string, values?: unknown[]): Promise<unknown>;

  /** A name unique to this run, e.g. for a table. */
  name(base: string): string {
    return `baldur_${base}_${this.suffix}`;
  }

  /** Create an object now, drop it in `stop()`. */
  async create(createSql: string, dropSql: string): Promise<void> {
    this.cleanups.push(dropSql);
    await this.sql(createSql);
  }

  /** Drops run newest first, so objects that depend on older ones go before them. */
  override async stop(): Promise<void> {
    for (const drop of this.cleanups.splice(0).reverse()) await this.sql(drop).catch(() => {});
    await super.stop();
  }
}

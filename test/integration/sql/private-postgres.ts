import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A throw-away PostgreSQL server of our own (initdb into a temp directory,
 * pg_ctl on a free port), so an outage test can stop and restart a database
 * without touching the shared one. As root, the server runs as the
 * `postgres` system user (PostgreSQL refuses to run as root).
 */
export class PrivatePostgres {
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly asUser: string | undefined,
    readonly port: number,
  ) {}

  get dsn(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Why a private server cannot be started here, or undefined when it can. */
  static unavailableReason(): string | undefined {
    if (findBin() === undefined) return 'no initdb/pg_ctl found';
    if (
      process.getuid?.() === 0 &&
      !existsSync('/usr/sbin/runuser') &&
      !existsSync('/sbin/runuser')
    )
      return 'running as root without runuser';
    return undefined;
  }

  static async create(): Promise<PrivatePostgres> {
    const bin = findBin();
    if (bin === undefined) throw new Error('no initdb/pg_ctl found');
    const asUser = process.getuid?.() === 0 ? 'postgres' : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'baldur-pg-private-'));
    if (asUser !== undefined) {
      const { stdout } = await run('id', ['-u', asUser]);
      const { stdout: gid } = await run('id', ['-g', asUser]);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const server = new PrivatePostgres(bin, dir, asUser, await freePort());
    await server.exec('initdb', [
      '-D',
      server.data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await server.start();
    return server;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  async start(): Promise<void> {
    await this.exec('pg_ctl', [
      '-D',
      this.data,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
      '-w',
      '-t',
      '30',
      'start',
    ]);
  }

  /** Stop like a crash (`immediate`) or a clean shutdown (`fast`). */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    const path = join(this.bin, tool);
    if (this.asUser === undefined) await run(path, args, { timeout: 60_000 });
    else await run('runuser', ['-u', this.asUser, '--', path, ...args], { timeout: 60_000 });
  }
}

function findBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter(v => existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that injects faults between a client and a real
 * server (PostgreSQL, MariaDB, Redis, a local HTTP server):
 *
 * - `pass`      forward bytes both ways
 * - `latency`   forward, delaying each chunk by `latencyMs`
 * - `reset`     accept, then reset the connection at once (ECONNRESET)
 * - `refuse`    stop listening: connections are refused (ECONNREFUSED)
 * - `blackhole` accept and never answer (the client must time out)
 * - `cut`       forward, then destroy both sides after `cutAfterBytes` bytes from the server
 *
 * It counts accepted connections, so a test can prove that an open breaker
 * opened none. Changing the mode affects new connections; `dropAll()` also ends
 * the existing ones.
 */
export type FaultMode = 'pass' | 'latency' | 'reset' | 'refuse' | 'blackhole' | 'cut';

export interface FaultProxyOptions {
  readonly targetHost?: string;
  readonly targetPort: number;
  readonly latencyMs?: number;
  readonly cutAfterBytes?: number;
}

export class FaultProxy {
  /** Connections accepted since start (or since `resetCounters`). */
  connections = 0;
  mode: FaultMode = 'pass';
  latencyMs: number;
  cutAfterBytes: number;
  private server: Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: FaultProxyOptions) {
    this.latencyMs = options.latencyMs ?? 100;
    this.cutAfterBytes = options.cutAfterBytes ?? 64;
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  async start(port = 0): Promise<this> {
    this.server = createServer(client => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Switch mode; `refuse` closes the listener, leaving it re-opens it on the same port. */
  async setMode(mode: FaultMode): Promise<void> {
    const wasRefusing = this.mode === 'refuse';
    this.mode = mode;
    if (mode === 'refuse' && !wasRefusing) await this.closeListener();
    if (mode !== 'refuse' && wasRefusing) await this.start(this.port);
  }

  resetCounters(): void {
    this.connections = 0;
  }

  /** Destroy every open connection (both sides). */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await this.closeListener();
  }

  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>(resolve => server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  private accept(client: Socket): void {
    this.connections++;
    this.track(client);
    switch (this.mode) {
      case 'reset':
        client.resetAndDestroy();
        return;
      case 'blackhole':
        client.on('data', () => {});
        return;
      case 'refuse':
        client.destroy();
        return;
      case 'pass':
      case 'latency':
      case 'cut':
        this.forward(client);
    }
  }

  private forward(client: Socket): void {
    const upstream = connect({
      host: this.options.targetHost ?? '127.0.0.1',
      port: this.options.targetPort,
    });
    this.track(upstream);
    const mode = this.mode;
    const delay = (fn: () => void): void => {
      if (mode === 'latency') setTimeout(fn, this.latencyMs);
      else fn();
    };
    let fromServer = 0;
    client.on('data', chunk => delay(() => upstream.write(chunk)));
    upstream.on('data', chunk => {
      if (mode === 'cut') {
        const room = this.cutAfterBytes - fromServer;
        fromServer += chunk.length;
        if (room <= 0 || chunk.length >= room) {
          if (room > 0) client.write(chunk.subarray(0, room));
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      delay(() => client.write(chunk));
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => delay(() => client.destroy()));
  }
}

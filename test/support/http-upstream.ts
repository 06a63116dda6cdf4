import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { CertificateFiles } from './self-signed';

/**
 * A local HTTP server whose answers the test controls: a default behaviour plus
 * an optional queue of one-off behaviours (consumed in order). Every request is
 * recorded, so a test can assert what reached the upstream.
 */
export interface Behaviour {
  /** Status to answer with (default 200). */
  readonly status?: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Wait before answering. */
  readonly delayMs?: number;
  /** Never answer (the client must time out). */
  readonly hang?: boolean;
  /** Send the headers and part of the body, then destroy the socket (premature close mid-body). */
  readonly cutBody?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export class HttpUpstream {
  readonly requests: RecordedRequest[] = [];
  behaviour: Behaviour = { status: 200, body: 'ok' };
  private readonly queue: Behaviour[] = [];
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  /** With `tls`, an HTTPS server with that certificate. */
  constructor(private readonly tls?: CertificateFiles) {}

  get url(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.server =
      this.tls === undefined
        ? createServer(handler)
        : createTlsServer(
            { key: readFileSync(this.tls.key), cert: readFileSync(this.tls.cert) },
            handler,
          );
    this.server.keepAliveTimeout = 1_000;
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Answer the next `times` requests with `behaviour`, then fall back to the default. */
  enqueue(behaviour: Behaviour, times = 1): void {
    for (let i = 0; i < times; i++) this.queue.push(behaviour);
  }

  reset(): void {
    this.requests.length = 0;
    this.queue.length = 0;
    this.behaviour = { status: 200, body: 'ok' };
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>(resolve =>
      this.server === undefined ? resolve() : this.server.close(() => resolve()),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests.push({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      const behaviour = this.queue.shift() ?? this.behaviour;
      if (behaviour.hang === true) {
        this.hanging.add(res);
        res.once('close', () => this.hanging.delete(res));
        return;
      }
      const answer = (): void => {
        const body =
          behaviour.body ??
          (behaviour.status === undefined || behaviour.status < 400 ? 'ok' : 'error');
        if (behaviour.cutBody === true) {
          res.writeHead(behaviour.status ?? 200, {
            'content-length': String(body.length * 10),
            ...behaviour.headers,
          });
          res.write(body);
          setImmediate(() => res.socket?.destroy());
          return;
        }
        res.writeHead(behaviour.status ?? 200, {
          'content-type': 'text/plain',
          ...behaviour.headers,
        });
        res.end(body);
      };
      if (behaviour.delayMs !== undefined) setTimeout(answer, behaviour.delayMs);
      else answer();
    });
  }
}

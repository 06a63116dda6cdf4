/**
 * The two undici handler APIs. Dispatchers have always accepted the legacy one
 * (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`, used by Node's
 * built-in fetch on Node 20 and 22 and by npm undici's own API handlers);
 * undici 7 added the controller API (`onRequestStart`/`onResponseStart`/…),
 * used by its newer interceptors. The agent speaks legacy to the dispatcher it
 * wraps and adapts a controller-style caller with `LegacyAdapter` (the same
 * translation undici 7's own `UnwrapHandler` does).
 */
export type Abort = (reason?: unknown) => void;

export interface LegacyHandler {
  onConnect?(abort: Abort, context?: unknown): void;
  onResponseStarted?(): void;
  onHeaders?(
    status: number,
    rawHeaders: RawHeaders,
    resume: () => void,
    statusText?: string,
  ): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: RawHeaders | null): void;
  onError?(error: unknown): void;
  onUpgrade?(status: number, rawHeaders: RawHeaders, socket: unknown): void;
  onBodySent?(chunk: unknown): void;
  onRequestSent?(): void;
}

export type RawHeaders = (Buffer | string | (Buffer | string)[])[];

interface ControllerHandler {
  onRequestStart?(controller: Controller, context: unknown): void;
  onRequestUpgrade?(
    controller: Controller,
    status: number,
    headers: Record<string, string | string[]>,
    socket: unknown,
  ): void;
  onResponseStart?(
    controller: Controller,
    status: number,
    headers: Record<string, string | string[]>,
    statusText?: string,
  ): void;
  onResponseData?(controller: Controller, chunk: Buffer): void;
  onResponseEnd?(controller: Controller, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: Controller, error: unknown): void;
  onResponseStarted?(): void;
}

function headerText(value: Buffer | string | (Buffer | string)[]): string | string[] {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(item => item.toString('latin1'));
  return value.toString('latin1');
}

/** `[name, value, …]` raw headers to an object with lower-case names (repeated names become arrays). */
export function parseRawHeaders(
  raw: RawHeaders | null | undefined,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = Object.create(null) as Record<
    string,
    string | string[]
  >;
  if (raw === null || raw === undefined) return headers;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(headerText(raw[i]!)).toLowerCase();
    const value = headerText(raw[i + 1]!);
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else headers[name] = ([] as string[]).concat(existing, value);
  }
  return headers;
}

class Controller {
  rawHeaders: RawHeaders | null = null;
  rawTrailers: RawHeaders | null = null;
  resumeFn: (() => void) | undefined;
  private isPaused = false;
  private isAborted = false;
  private abortReason: unknown = null;

  constructor(private readonly abortFn: Abort) {}

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    if (this.isPaused) {
      this.isPaused = false;
      this.resumeFn?.();
    }
  }

  abort(reason?: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    this.abortFn(reason);
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  get reason(): unknown {
    return this.abortReason;
  }

  get paused(): boolean {
    return this.isPaused;
  }
}

class LegacyAdapter implements LegacyHandler {
  private controller: Controller | undefined;

  constructor(private readonly handler: ControllerHandler) {}

  onConnect(abort: Abort, context?: unknown): void {
    this.controller = new Controller(abort);
    this.handler.onRequestStart?.(this.controller, context);
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.();
  }

  onUpgrade(status: number, rawHeaders: RawHeaders, socket: unknown): void {
    const controller = this.controller!;
    controller.rawHeaders = rawHeaders;
    this.handler.onRequestUpgrade?.(controller, status, parseRawHeaders(rawHeaders), socket);
  }

  onHeaders(
    status: number,
    rawHeaders: RawHeaders,
    resume: () => void,
    statusText?: string,
  ): boolean {
    const controller = this.controller!;
    controller.resumeFn = resume;
    controller.rawHeaders = rawHeaders;
    this.handler.onResponseStart?.(controller, status, parseRawHeaders(rawHeaders), statusText);
    return !controller.paused;
  }

  onData(chunk: Buffer): boolean {
    const controller = this.controller!;
    this.handler.onResponseData?.(controller, chunk);
    return !controller.paused;
  }

  onComplete(trailers: RawHeaders | null): void {
    const controller = this.controller!;
    controller.rawTrailers = trailers;
    this.handler.onResponseEnd?.(controller, parseRawHeaders(trailers));
  }

  onError(error: unknown): void {
    this.handler.onResponseError?.(this.controller!, error);
  }
}

/** The caller's handler as a legacy handler. */
export function asLegacy(handler: object): LegacyHandler {
  return typeof (handler as ControllerHandler).onRequestStart === 'function'
    ? new LegacyAdapter(handler)
    : handler;
}

import { isBackoffStatus, isFailureStatus } from '../../src/core/outcome';
import type { CallOptions } from '../../src/core/pipeline/options';
import type { Callee, Pipeline } from '../../src/core/pipeline/pipeline';
import { asCallerAbort, httpClassifier, markDelivered } from '../http/classify';
import { isRetrySafeRequest } from '../http/retry-safety';
import type { Abort, LegacyHandler, RawHeaders } from './handler';

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** What the agent needs of a dispatcher: undici's `dispatch(options, handler)`. */
export interface DispatcherLike {
  dispatch(options: DispatchOptions, handler: LegacyHandler): boolean;
}

export interface DispatchOptions {
  origin?: string | URL;
  path?: string;
  method?: string;
  headers?: unknown;
  body?: unknown;
  upgrade?: unknown;
  [key: string | symbol]: unknown;
}

/** The attempt's value at headers (what the classifier and Retry-After parsing read). */
interface AttemptResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string> | undefined;
}

interface Held {
  readonly value: AttemptResponse;
  readonly status: number;
  readonly rawHeaders: RawHeaders;
  readonly resume: () => void;
  readonly statusText: string | undefined;
  readonly chunks: Buffer[];
  complete: boolean;
  trailers: RawHeaders | null;
  error: unknown;
}

/** Bodies that can be sent again as they are: none, strings and bytes (never streams or iterables). */
function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer
  );
}

function retryAfterHeaders(raw: RawHeaders): Record<string, string> | undefined {
  let headers: Record<string, string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    if (name === 'retry-after' || name === 'retry-after-ms') {
      headers ??= {};
      const value = raw[i + 1]!;
      headers[name] = Array.isArray(value) ? String(value[0]) : value.toString('latin1');
    }
  }
  return headers;
}

/** One inner dispatch (one attempt); it forwards what it receives to the call. */
class Attempt implements LegacyHandler {
  abort: Abort | undefined;
  cancelled: unknown = undefined;
  /** Its outcome is known (headers or error), or its deadline cut it. */
  settled = false;
  /** Its events are ignored from now on (discarded, cut, or the caller left). */
  abandoned = false;
  /** Its response is the caller's: headers went through, body events follow. */
  delivering = false;
  /** The inner request completed or failed: there is nothing left to abort. */
  finished = false;
  held: Held | undefined;

  constructor(private readonly call: UndiciCall) {}

  onConnect(abort: Abort): void {
    this.abort = abort;
    if (this.cancelled !== undefined) abort(this.cancelled);
  }

  onResponseStarted(): void {
    if (!this.abandoned) this.call.handler.onResponseStarted?.();
  }

  onHeaders(
    status: number,
    rawHeaders: RawHeaders,
    resume: () => void,
    statusText?: string,
  ): boolean {
    return this.call.onHeaders(this, status, rawHeaders, resume, statusText);
  }

  onData(chunk: Buffer): boolean {
    if (this.abandoned) return true;
    if (this.held !== undefined) {
      this.held.chunks.push(chunk);
      return false;
    }
    const handler = this.call.handler;
    return this.delivering && handler.onData !== undefined ? handler.onData(chunk) : true;
  }

  onComplete(trailers: RawHeaders | null): void {
    this.finished = true;
    if (this.abandoned) return;
    if (this.held !== undefined) {
      this.held.complete = true;
      this.held.trailers = trailers;
      return;
    }
    if (this.delivering) this.call.handler.onComplete?.(trailers);
  }

  onError(error: unknown): void {
    this.finished = true;
    this.call.onError(this, error);
  }

  onUpgrade(status: number, rawHeaders: RawHeaders, socket: unknown): void {
    this.call.onUpgrade(this, status, rawHeaders, socket);
  }

  onBodySent(chunk: unknown): void {
    if (!this.abandoned) this.call.handler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    if (!this.abandoned) this.call.handler.onRequestSent?.();
  }

  /** Stop this attempt: drain a held response (keeps the connection), abort anything else. */
  abandon(reason: unknown): void {
    if (this.abandoned) return;
    this.abandoned = true;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) {
      if (!held.complete && held.error === undefined) held.resume();
      return;
    }
    if (this.finished) return;
    if (this.abort !== undefined) this.abort(reason);
    else this.cancelled = reason ?? asCallerAbort();
  }
}

/**
 * One undici request (`fetch`, `undici.request`, `stream`, …) run through its
 * dependency's pipeline. Each attempt is a separate dispatch to the wrapped
 * dispatcher; the caller's handler sees one `onConnect`, then the chosen
 * attempt's response or the final error — a Baldur rejection included, so
 * `fetch()` rejects with `TypeError('fetch failed', { cause })` and
 * `undici.request()` with the rejection itself.
 */
export class UndiciCall implements CallOptions {
  readonly onTimeout: ((error: Error) => void) | undefined;
  readonly args: readonly unknown[];
  private readonly methodSafe: boolean;
  private attemptNo = 0;
  private current: Attempt | undefined;
  private done = false;
  private userAborted = false;
  private resolveAttempt: (value: unknown) => void = () => {};
  private rejectAttempt: (error: unknown) => void = () => {};

  constructor(
    private readonly inner: DispatcherLike,
    private readonly opts: DispatchOptions,
    readonly handler: LegacyHandler,
    private readonly pipeline: Pipeline,
    method: string,
  ) {
    this.methodSafe =
      isRetrySafeRequest(method, opts.headers) &&
      method !== 'CONNECT' &&
      (opts.upgrade === undefined || opts.upgrade === null) &&
      isReplayableBody(opts.body);
    const { attemptTimeoutMs, totalTimeoutMs } = pipeline.options;
    this.onTimeout =
      attemptTimeoutMs > 0 || totalTimeoutMs > 0 ? error => this.cut(error) : undefined;
    this.args =
      pipeline.options.deadLetter === undefined
        ? NO_ARGS
        : [{ method, origin: String(opts.origin), path: opts.path }];
  }

  get retrySafe(): boolean {
    return this.methodSafe;
  }

  start(): void {
    // The caller's abort handle, right away: an abort while queued or between attempts is seen.
    this.handler.onConnect?.(reason => this.abortFromCaller(reason));
    if (this.done) return;
    this.pipeline.execute(runAttempt as unknown as Callee, this, this.args, this).then(
      value => this.onFinal(value),
      (error: unknown) => this.onFinalError(error),
    );
  }

  attempt(): Promise<unknown> {
    this.attemptNo++;
    if (this.done) return Promise.reject(asCallerAbort());
    const previous = this.current;
    if (previous !== undefined) previous.abandon(undefined);
    const attempt = new Attempt(this);
    this.current = attempt;
    const promise = new Promise<unknown>((resolve, reject) => {
      this.resolveAttempt = resolve;
      this.rejectAttempt = reject;
    });
    try {
      this.inner.dispatch(this.opts, attempt);
    } catch (error) {
      this.onError(attempt, error);
    }
    return promise;
  }

  private mayRetry(): boolean {
    const retry = this.pipeline.options.retry;
    return (
      retry !== undefined &&
      this.attemptNo < retry.maxAttempts &&
      !this.userAborted &&
      this.methodSafe
    );
  }

  onHeaders(
    attempt: Attempt,
    status: number,
    rawHeaders: RawHeaders,
    resume: () => void,
    statusText: string | undefined,
  ): boolean {
    if (attempt.abandoned || attempt !== this.current) return true;
    const handler = this.handler;
    if (status < 200) {
      return handler.onHeaders === undefined
        ? true
        : handler.onHeaders(status, rawHeaders, resume, statusText);
    }
    if (attempt.settled) return true;
    attempt.settled = true;
    const value: AttemptResponse = {
      statusCode: status,
      headers: isBackoffStatus(status) ? retryAfterHeaders(rawHeaders) : undefined,
    };
    const failed = isFailureStatus(status);
    if (failed && !this.done && this.mayRetry()) {
      attempt.held = {
        value,
        status,
        rawHeaders,
        resume,
        statusText,
        chunks: [],
        complete: false,
        trailers: null,
        error: undefined,
      };
      this.resolveAttempt(value);
      return false; // paused until the pipeline decides
    }
    if (failed) markDelivered(value);
    if (this.done) {
      // The caller already left.
      this.resolveAttempt(value);
      attempt.abandon(asCallerAbort());
      return true;
    }
    this.done = true;
    attempt.delivering = true;
    this.resolveAttempt(value);
    return handler.onHeaders === undefined
      ? true
      : handler.onHeaders(status, rawHeaders, resume, statusText);
  }

  onError(attempt: Attempt, error: unknown): void {
    if (attempt.abandoned || attempt !== this.current) return;
    const handler = this.handler;
    if (attempt.delivering) {
      // Mid-body: the outcome was decided at headers; the cut still counts against the dependency.
      if (!this.userAborted) this.pipeline.recordLateFailure();
      handler.onError?.(error);
      return;
    }
    if (attempt.held !== undefined) {
      attempt.held.error = error;
      return;
    }
    if (attempt.settled) return;
    attempt.settled = true;
    if (this.done || this.userAborted) {
      this.rejectAttempt(asCallerAbort(error));
      if (this.done) return;
    } else if (httpClassifier.classifyError(error) === 'failure' && this.mayRetry()) {
      this.rejectAttempt(error);
      return;
    } else {
      markDelivered(error);
      this.rejectAttempt(error);
    }
    this.done = true;
    handler.onError?.(error);
  }

  onUpgrade(attempt: Attempt, status: number, rawHeaders: RawHeaders, socket: unknown): void {
    if (attempt.abandoned || attempt !== this.current) return;
    attempt.settled = true;
    attempt.delivering = true;
    this.done = true;
    this.resolveAttempt({ statusCode: status, headers: undefined });
    this.handler.onUpgrade?.(status, rawHeaders, socket);
  }

  private abortFromCaller(reason: unknown): void {
    if (this.userAborted) return;
    this.userAborted = true;
    const attempt = this.current;
    if (attempt !== undefined && !attempt.abandoned && attempt.abort !== undefined) {
      if (attempt.delivering || (!attempt.settled && attempt.held === undefined)) {
        // In flight or streaming: undici reports the abort through onError.
        attempt.abort(reason);
        return;
      }
    }
    if (this.done) return;
    // Queued, between attempts, held, or not yet connected: report it now.
    this.done = true;
    if (attempt !== undefined && !attempt.settled) {
      attempt.settled = true;
      this.rejectAttempt(asCallerAbort(reason));
    }
    attempt?.abandon(reason);
    this.handler.onError?.(reason ?? asCallerAbort());
  }

  /** The attempt's deadline fired. */
  private cut(error: Error): void {
    const attempt = this.current;
    if (attempt === undefined || attempt.settled) return;
    attempt.settled = true;
    attempt.abandon(error);
  }

  private onFinal(value: unknown): void {
    if (this.done) return;
    this.done = true;
    const attempt = this.current;
    const held = attempt?.held;
    if (attempt === undefined || held === undefined || held.value !== value) return;
    attempt.held = undefined;
    attempt.delivering = true;
    const handler = this.handler;
    const flowing =
      handler.onHeaders === undefined
        ? true
        : handler.onHeaders(held.status, held.rawHeaders, held.resume, held.statusText);
    for (const chunk of held.chunks) handler.onData?.(chunk);
    if (held.error !== undefined) {
      if (!this.userAborted) this.pipeline.recordLateFailure();
      handler.onError?.(held.error);
    } else if (held.complete) {
      handler.onComplete?.(held.trailers);
    } else if (flowing !== false) {
      held.resume();
    }
  }

  private onFinalError(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.current?.abandon(error);
    this.handler.onError?.(error);
  }
}

function runAttempt(this: UndiciCall): Promise<unknown> {
  return this.attempt();
}

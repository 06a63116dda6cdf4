import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import type { CallOptions } from '../../src/core/pipeline/options';
import { FULL_PATH, type Callee, type Pipeline } from '../../src/core/pipeline/pipeline';
import { asCallerAbort, httpClassifier, markDelivered } from './classify';
import { IDEMPOTENCY_KEY_HEADER, isRetrySafeRequest } from './retry-safety';

/** The `node:http` or `node:https` exports: retries go through the live `request`. */
export interface HttpModule {
  request(options: RequestOptions): ClientRequest;
  globalAgent: Agent;
}

/** While > 0, `request` calls are the agent's own retries and pass through unpoliced. */
export const replayState = { depth: 0 };

const kCall = Symbol('baldur.http.call');
/** Marks the agent's own retry requests (a custom agent may hand them on later, past the replay). */
const kReplay = Symbol('baldur.http.replay');
const NO_ARGS: readonly unknown[] = Object.freeze([]);

function ignore(): void {}

/** An agent's `addRequest`, called with the agent as `this`. */
export type AddRequest = (this: Agent, req: ClientRequest, options: RequestOptions) => void;

type AnyMethod = (this: ClientRequest, ...args: unknown[]) => unknown;

interface HookedRequest extends ClientRequest {
  [kCall]: HttpCall;
}

/**
 * Where the application's request stands:
 * - `live`     its own request is the current attempt and nothing is held; its events flow
 * - `held`     its own attempt failed and the outcome is held while the pipeline decides
 * - `detached` another request carries the attempts (or the outcome was synthesized); its
 *              own lifecycle events are swallowed and the chosen ones forwarded
 * - `final`    its own attempt's outcome was delivered: every event flows untouched
 */
type RequestState = 'live' | 'held' | 'detached' | 'final';

function hasBytes(chunk: unknown): boolean {
  if (typeof chunk === 'string') return chunk.length > 0;
  if (typeof chunk !== 'object' || chunk === null) return false;
  const size =
    (chunk as { byteLength?: unknown; length?: unknown }).byteLength ??
    (chunk as { length?: unknown }).length;
  return typeof size === 'number' ? size > 0 : true;
}

function dump(res: IncomingMessage): void {
  const internal = res as IncomingMessage & { _dump?: () => void };
  if (typeof internal._dump === 'function') internal._dump();
  else res.resume();
}

/** Node's own path for a request that gets no socket: `'error'` (if any) then `'close'`, no connection. */
/** Emit on the application's request past the hooks. */
function emitBase(req: ClientRequest, event: string, arg?: unknown): boolean {
  const emit = base!.emit;
  return (arguments.length > 2 ? emit.call(req, event, arg) : emit.call(req, event)) as boolean;
}

function failWithoutSocket(req: ClientRequest, error: unknown): void {
  (req as unknown as { onSocket(socket: null, error?: unknown): void }).onSocket(null, error);
}

function socketHangUp(): Error {
  const error = new Error('socket hang up') as Error & { code: string };
  error.code = 'ECONNRESET';
  return error;
}

/**
 * One application request (`http.request`/`http.get`) run through its
 * dependency's pipeline. The first attempt is the application's own
 * `ClientRequest`, handed to the real agent only once the pipeline admits it —
 * a rejection is an `'error'` event with no connection opened. A retry (only
 * for a repeatable request whose outcome has not reached the application) is a
 * new request with the same options; the final response is emitted on the
 * application's request, as `'response'`, exactly once.
 */
export class HttpCall implements CallOptions {
  readonly onTimeout: ((error: Error) => void) | undefined;
  readonly args: readonly unknown[];

  state: RequestState = 'live';
  private attemptNo = 0;
  private current: ClientRequest | undefined;
  /** The current attempt's outcome is known (or the attempt was cut by its timeout). */
  private settled = false;
  // Settle the current attempt; like a promise's resolvers, only the first call counts.
  private resolveAttempt: (this: HttpCall, value: unknown) => void = ignore;
  private rejectAttempt: (this: HttpCall, error: unknown) => void = ignore;
  /** Fast path only: the breaker permit and start time of the first attempt. */
  private firstPermit = 0;
  private firstStartMs = 0;
  private heldResponse: IncomingMessage | undefined;
  private heldFrom: ClientRequest | undefined;
  private bodyWritten = false;
  private userAborted = false;
  /** The application has its final outcome (or is getting it): nothing more is delivered. */
  private done = false;
  /** The application's own request closed while its events were held. */
  private ownClosed = false;
  private currentClosed = false;
  private closeEmitted = false;
  private userTimeoutMs: number | undefined;
  /** The response the application got (watched for a body cut mid-stream). */
  private delivered: IncomingMessage | undefined;

  constructor(
    private readonly req: ClientRequest,
    private readonly opts: RequestOptions,
    private readonly real: Agent,
    /** How the real agent takes the request: Node's own `addRequest`, or a custom agent's. */
    private readonly handOff: AddRequest,
    private readonly mod: HttpModule,
    private readonly pipeline: Pipeline,
  ) {
    const { attemptTimeoutMs, totalTimeoutMs } = pipeline.options;
    this.onTimeout =
      attemptTimeoutMs > 0 || totalTimeoutMs > 0 ? error => this.cut(error) : undefined;
    // Arguments are only read for dead-letter entries: describe the request only then.
    this.args =
      pipeline.options.deadLetter === undefined
        ? NO_ARGS
        : [{ method: req.method, host: opts.host, port: opts.port, path: req.path }];
    (req as HookedRequest)[kCall] = this;
  }

  /**
   * Method-level retry safety, read by the pipeline once a first attempt failed; body and
   * delivery are checked per outcome. Raw (array) headers are only in the options.
   */
  get retrySafe(): boolean {
    const req = this.req;
    if (req.method === 'CONNECT' || req.hasHeader('upgrade')) return false;
    return (
      isRetrySafeRequest(req.method, this.opts.headers) || req.hasHeader(IDEMPOTENCY_KEY_HEADER)
    );
  }

  start(): void {
    const pipeline = this.pipeline;
    const permit = pipeline.admitFirstAttempt();
    if (permit === FULL_PATH) {
      this.follow(pipeline.execute(runAttempt as unknown as Callee, this, this.args, this));
      return;
    }
    // The fast path: the first attempt's outcome goes straight to the pipeline when it is
    // known (`firstSettled`), with no promise in between; only a failure continues as a promise.
    this.firstPermit = permit;
    this.firstStartMs = pipeline.firstAttemptStartMs();
    this.resolveAttempt = firstResolved;
    this.rejectAttempt = firstRejected;
    this.attemptNo = 1;
    this.sendFirst();
  }

  /** One attempt (called by the pipeline with `this` = the call). */
  attempt(): Promise<unknown> {
    const n = ++this.attemptNo;
    if (this.done) return Promise.reject(asCallerAbort());
    this.settled = false;
    const promise = new Promise<unknown>((resolve, reject) => {
      this.resolveAttempt = resolve;
      this.rejectAttempt = reject;
    });
    if (n === 1) {
      this.sendFirst();
    } else {
      this.discardHeld();
      this.state = 'detached';
      this.currentClosed = false;
      try {
        this.current = this.sendRetry();
      } catch (error) {
        this.settled = true;
        this.rejectAttempt(error);
      }
    }
    return promise;
  }

  /** The first attempt is the application's own request, handed to the real agent now. */
  private sendFirst(): void {
    this.current = this.req;
    // Destroyed while it waited for admission: finish it the way Node would, without a socket.
    if (this.req.destroyed) failWithoutSocket(this.req, undefined);
    else this.handOff.call(this.real, this.req, this.opts);
  }

  /**
   * Report the fast path's first outcome. Runs inside Node's own `'response'` or
   * `'error'` dispatch, so nothing may escape: a failure of the pipeline is the
   * call's final error, as it would be on the promise path.
   */
  firstSettled(isError: boolean, error: unknown, value: unknown): void {
    this.resolveAttempt = this.rejectAttempt = ignore;
    let result: unknown;
    try {
      result = this.pipeline.afterFirst(
        runAttempt as unknown as Callee,
        this,
        this.args,
        this,
        isError,
        error,
        value,
        this.firstPermit,
        false,
        this.firstStartMs,
      );
    } catch (failure) {
      this.onFinalError(failure);
      return;
    }
    // A success is settled here (an HTTP outcome is never a promise); anything else continues
    // in the pipeline's full path (retries, fallback), whose promise carries the final outcome.
    if (result instanceof Promise) this.follow(result);
    else this.onFinal(result);
  }

  private follow(final: Promise<unknown>): void {
    final.then(
      value => this.onFinal(value),
      (error: unknown) => this.onFinalError(error),
    );
  }

  private sendRetry(): ClientRequest {
    const req = this.req;
    const headers = Array.isArray(this.opts.headers) ? this.opts.headers : req.getHeaders();
    const options = Object.assign({}, this.opts, {
      agent: this.real,
      method: req.method,
      headers,
    }) as RequestOptions;
    replayState.depth++;
    let retry: ClientRequest;
    try {
      retry = this.mod.request(options);
    } finally {
      replayState.depth--;
    }
    (retry as unknown as Record<symbol, unknown>)[kReplay] = true;
    retry.on('response', (res: IncomingMessage) => this.onResponse(retry, res));
    retry.on('error', (error: unknown) => this.onError(retry, error));
    retry.on('close', () => {
      if (retry !== this.current) return;
      this.currentClosed = true;
      if (this.done) this.emitClose();
    });
    retry.on('timeout', () => {
      if (retry === this.current && !this.closeEmitted) emitBase(req, 'timeout');
    });
    if (this.userTimeoutMs !== undefined) retry.setTimeout(this.userTimeoutMs);
    retry.end();
    return retry;
  }

  /** Whether a failed outcome of the current attempt could still be retried. */
  private mayRetry(): boolean {
    const retry = this.pipeline.options.retry;
    return (
      retry !== undefined &&
      this.attemptNo < retry.maxAttempts &&
      !this.bodyWritten &&
      !this.userAborted &&
      this.req.writableEnded &&
      this.retrySafe
    );
  }

  onResponse(source: ClientRequest, res: IncomingMessage): boolean {
    if (source !== this.current || this.settled) {
      if (source !== this.req) dump(res);
      return true;
    }
    this.settled = true;
    if (this.done) {
      // The application already gave up on this call.
      this.resolveAttempt(res);
      dump(res);
      return true;
    }
    const failed = httpClassifier.classifyResult(res) === 'failure';
    if (failed && this.mayRetry()) {
      this.heldResponse = res;
      this.heldFrom = source;
      if (source === this.req) this.state = 'held';
      this.resolveAttempt(res);
      return true;
    }
    if (failed) markDelivered(res);
    this.done = true;
    this.resolveAttempt(res);
    return this.deliverResponse(source, res);
  }

  onError(source: ClientRequest, error: unknown): boolean {
    if (source !== this.current || this.settled) return true;
    this.settled = true;
    if (this.done || this.userAborted) {
      this.rejectAttempt(asCallerAbort(error));
      if (this.done) return true;
      this.done = true;
    } else if (httpClassifier.classifyError(error) === 'failure' && this.mayRetry()) {
      if (source === this.req) this.state = 'held';
      this.rejectAttempt(error);
      return true;
    } else {
      markDelivered(error);
      this.done = true;
      this.rejectAttempt(error);
    }
    if (source === this.req) {
      this.state = 'final';
      return emitBase(this.req, 'error', error);
    }
    emitBase(this.req, 'error', error);
    return true;
  }

  /** The application's request closed with neither response nor error (it aborted it). */
  onUnsettledClose(): void {
    this.settled = true;
    this.done = true;
    this.state = 'final';
    this.rejectAttempt(asCallerAbort());
  }

  /** A protocol upgrade or CONNECT answer: the exchange succeeded and belongs to the caller. */
  onUpgrade(): void {
    if (this.settled) return;
    this.settled = true;
    this.done = true;
    this.state = 'final';
    this.resolveAttempt({ statusCode: 101 });
  }

  noteWrite(chunk: unknown): void {
    if (!this.bodyWritten && hasBytes(chunk)) this.bodyWritten = true;
  }

  noteTimeout(msecs: unknown): void {
    if (typeof msecs !== 'number') return;
    this.userTimeoutMs = msecs;
    const current = this.current;
    if (this.state === 'detached' && current !== undefined && current !== this.req) {
      current.setTimeout(msecs);
    }
  }

  /** The application destroyed (or aborted) its request. */
  noteDestroy(error: unknown): void {
    this.userAborted = true;
    const req = this.req;
    const current = this.current;
    const carried = this.state === 'detached' && current !== undefined && current !== req;
    if (this.done || (this.state !== 'held' && this.state !== 'detached')) {
      // A retry's response may still be streaming to the application: stop it too.
      if (carried && !this.currentClosed) current.destroy();
      return;
    }
    // Its outcome is held or carried by a retry: end that, and report as Node would.
    this.done = true;
    this.discardHeld();
    this.state = 'detached';
    if (carried && !this.currentClosed) current.destroy();
    const reported = error ?? (req.aborted ? undefined : socketHangUp());
    process.nextTick(() => {
      if (reported !== undefined) emitBase(req, 'error', reported);
      this.emitClose();
    });
  }

  noteOwnClose(): void {
    this.ownClosed = true;
  }

  /** The attempt's deadline fired: cut the underlying request (its events are ignored from now on). */
  private cut(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    const target = this.current;
    if (target === undefined) return;
    if (target === this.req) {
      if (this.state === 'live') this.state = 'held';
      baseCall('destroy', target, [error]);
    } else {
      target.destroy(error);
    }
  }

  private onFinal(value: unknown): void {
    if (this.done) return;
    this.done = true;
    const res = this.heldResponse;
    const from = this.heldFrom;
    this.heldResponse = undefined;
    this.heldFrom = undefined;
    if (res === undefined || from === undefined || res !== value) return;
    process.nextTick(() => this.deliverResponse(from, res));
  }

  private onFinalError(error: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.attemptNo === 0) {
      // Rejected before any attempt: fail the request without a socket (no TCP connection).
      this.state = 'final';
      failWithoutSocket(this.req, error);
      return;
    }
    this.discardHeld();
    this.state = 'detached';
    process.nextTick(() => {
      emitBase(this.req, 'error', error);
      this.emitClose();
    });
  }

  private deliverResponse(source: ClientRequest, res: IncomingMessage): boolean {
    const req = this.req;
    this.delivered = res;
    if (source === req) {
      this.state = 'final';
      const listened = emitBase(req, 'response', res);
      if (!listened) dump(res);
      if (this.ownClosed) this.emitClose();
      return true;
    }
    const listened = emitBase(req, 'response', res);
    if (!listened) dump(res);
    if (this.currentClosed) this.emitClose();
    return true;
  }

  /**
   * When the request closes: a delivered body cut mid-stream (the socket closed
   * under it — Node destroys the response with an "aborted" error) still counts
   * against the dependency, though the outcome was decided at headers. The
   * caller's own destroy does not (no error, or `userAborted`).
   */
  checkLateFailure(): void {
    const res = this.delivered;
    if (res === undefined) return;
    this.delivered = undefined;
    if (!res.complete && res.errored !== null && !this.userAborted) {
      this.pipeline.recordLateFailure();
    }
  }

  private discardHeld(): void {
    const res = this.heldResponse;
    this.heldResponse = undefined;
    this.heldFrom = undefined;
    if (res !== undefined) dump(res);
  }

  private emitClose(): void {
    this.checkLateFailure();
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    emitBase(this.req, 'close');
  }
}

/** The fast path's `resolveAttempt`, called as a method of the call. */
function firstResolved(this: HttpCall, value: unknown): void {
  this.firstSettled(false, undefined, value);
}

/** The fast path's `rejectAttempt`. */
function firstRejected(this: HttpCall, error: unknown): void {
  this.firstSettled(true, error, undefined);
}

function runAttempt(this: HttpCall): Promise<unknown> {
  return this.attempt();
}

function callOf(req: ClientRequest): HttpCall | undefined {
  return (req as Partial<HookedRequest>)[kCall];
}

/** Whether a request is governed already: by a call of its own, or as one of a call's retries. */
export function isGoverned(req: ClientRequest): boolean {
  return (
    (req as Partial<HookedRequest>)[kCall] !== undefined ||
    (req as unknown as Record<symbol, unknown>)[kReplay] === true
  );
}

/** What `ClientRequest.prototype` resolved to before the hooks. */
interface BaseMethods {
  emit: AnyMethod;
  destroy: AnyMethod;
  write: AnyMethod;
  end: AnyMethod;
  setTimeout: AnyMethod;
}

let base: BaseMethods | undefined;

/**
 * The hooks, closed over Node's own methods: constants to the compiler, so the
 * common path forwards with a direct call of the right arity instead of
 * spreading `arguments` into an unknown function.
 */
function makeHooks(b: BaseMethods): Record<keyof BaseMethods, AnyMethod> {
  const { emit, destroy, write, end, setTimeout } = b;

  function hookedEmit(this: ClientRequest, event: string | symbol, arg?: unknown): boolean {
    const call = callOf(this);
    if (call !== undefined) {
      switch (call.state) {
        case 'final':
          if (event === 'close') call.checkLateFailure();
          break;
        case 'live':
          if (event === 'response') return call.onResponse(this, arg as IncomingMessage);
          if (event === 'error') return call.onError(this, arg);
          if (event === 'close') call.onUnsettledClose();
          else if (event === 'upgrade' || event === 'connect') call.onUpgrade();
          break;
        case 'held':
        case 'detached':
          // The application sees only what the call delivers.
          if (event === 'close') {
            call.noteOwnClose();
            return false;
          }
          if (event === 'response') {
            dump(arg as IncomingMessage);
            return true;
          }
          if (event === 'error') return true;
          if (event === 'timeout' && call.state === 'detached') return false;
      }
    }
    // Node emits request events with no argument or one; forward exactly what was passed.
    switch (arguments.length) {
      case 1:
        return emit.call(this, event) as boolean;
      case 2:
        return emit.call(this, event, arg) as boolean;
      default:
        // eslint-disable-next-line prefer-rest-params
        return Reflect.apply(emit, this, arguments) as boolean;
    }
  }

  function hookedDestroy(this: ClientRequest, error?: unknown): unknown {
    callOf(this)?.noteDestroy(error);
    // eslint-disable-next-line prefer-rest-params
    return arguments.length === 0 ? destroy.call(this) : Reflect.apply(destroy, this, arguments);
  }

  function hookedWrite(this: ClientRequest, chunk: unknown): unknown {
    callOf(this)?.noteWrite(chunk);
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(write, this, arguments);
  }

  function hookedEnd(this: ClientRequest, chunk: unknown): unknown {
    if (arguments.length === 0) {
      // `http.get` and most requests without a body.
      return end.call(this);
    }
    if (typeof chunk !== 'function') callOf(this)?.noteWrite(chunk);
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(end, this, arguments);
  }

  function hookedSetTimeout(this: ClientRequest, msecs: unknown): unknown {
    callOf(this)?.noteTimeout(msecs);
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(setTimeout, this, arguments);
  }

  return {
    emit: hookedEmit as AnyMethod,
    destroy: hookedDestroy,
    write: hookedWrite,
    end: hookedEnd,
    setTimeout: hookedSetTimeout,
  };
}

/** Calls a base method without going through the hooks (the agent's own destroy, emit). */
function baseCall(name: keyof BaseMethods, self: ClientRequest, args: readonly unknown[]): unknown {
  return Reflect.apply(base![name], self, args);
}

const kHooked = Symbol.for('baldur.http.clientRequestHooks.v1');

/**
 * Hook `ClientRequest.prototype` once: `emit`, `destroy`, `write`, `end` and
 * `setTimeout` check for a call on the request (one symbol load) and fall
 * through to Node's own methods for every request the agent does not govern.
 * Per-request hooks would cost a property definition each on a hot object.
 */
export function hookClientRequests(proto: object): void {
  const target = proto as Record<string | symbol, unknown>;
  if (target[kHooked] === true) return;
  base = {
    emit: target.emit as AnyMethod,
    destroy: target.destroy as AnyMethod,
    write: target.write as AnyMethod,
    end: target.end as AnyMethod,
    setTimeout: target.setTimeout as AnyMethod,
  };
  const hooks = makeHooks(base);
  for (const name of Object.keys(hooks) as (keyof BaseMethods)[]) {
    const hook = hooks[name];
    Object.defineProperty(hook, 'name', { value: name, configurable: true });
    Object.defineProperty(target, name, { value: hook, writable: true, configurable: true });
  }
  Object.defineProperty(target, kHooked, { value: true });
}

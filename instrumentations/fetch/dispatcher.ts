import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { AgentContext } from '../shared/types';
import { isInternal } from '../shared/internal';
import type { HttpPipelines } from '../http/dependency';
import { tracingSuppressed } from '../http/suppressed';
import { UndiciCall, type DispatchOptions, type DispatcherLike } from './call';
import { asLegacy } from './handler';

const nodeRequire = createRequire(__filename);

/** Where undici (npm and Node's bundled copy) keep the global dispatcher. */
export const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
export const GLOBAL_DISPATCHER_2 = Symbol.for('undici.globalDispatcher.2');

const kBaldurDispatcher = Symbol.for('baldur.dispatcher.v1');
/** Set on the options of our own inner dispatches: an outer Baldur dispatcher already governs them. */
const kGoverned = Symbol.for('baldur.dispatch.governed.v1');

export interface FetchInstall {
  readonly context: AgentContext;
  readonly pipelines: HttpPipelines;
}

interface Origin {
  readonly host: string;
  readonly port: number;
}

const origins = new Map<string, Origin>();

function originOf(origin: unknown): Origin {
  const text =
    typeof origin === 'string' ? origin : origin instanceof URL ? origin.origin : String(origin);
  let parsed = origins.get(text);
  if (parsed === undefined) {
    const url = new URL(text);
    parsed = {
      host: url.hostname,
      port: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
    };
    if (origins.size >= 1024) origins.clear();
    origins.set(text, parsed);
  }
  return parsed;
}

type AnyDispatcher = DispatcherLike & {
  close?(...args: unknown[]): unknown;
  destroy?(...args: unknown[]): unknown;
};

/** undici's Agent, loaded on first use only (never at preload). */
function createDefaultDispatcher(): AnyDispatcher {
  let Agent: new () => AnyDispatcher;
  try {
    Agent = nodeRequire('undici/lib/dispatcher/agent') as new () => AnyDispatcher;
  } catch {
    Agent = (nodeRequire('undici') as { Agent: new () => AnyDispatcher }).Agent;
  }
  return new Agent();
}

function undiciPart<T>(path: string): T {
  return nodeRequire(`undici/lib/${path}`) as T;
}

/**
 * The global dispatcher the agent installs: it runs every request of Node's
 * fetch and of npm undici (without an explicit `dispatcher`) through its
 * dependency's pipeline, and dispatches each attempt to the dispatcher it
 * wraps — whatever was installed before, or an undici `Agent` built on first
 * use.
 */
export class BaldurDispatcher extends EventEmitter {
  private target: AnyDispatcher | undefined;

  constructor(
    private readonly install: FetchInstall,
    target: AnyDispatcher | undefined,
  ) {
    super();
    this.target = target;
    Object.defineProperty(this, kBaldurDispatcher, { value: true });
  }

  /** The dispatcher attempts go to. */
  get inner(): AnyDispatcher {
    return (this.target ??= createDefaultDispatcher());
  }

  dispatch(opts: DispatchOptions, handler: object): boolean {
    const inner = this.inner;
    if (
      typeof opts !== 'object' ||
      opts === null ||
      typeof handler !== 'object' ||
      handler === null ||
      opts[kGoverned] === true ||
      isInternal(opts) ||
      tracingSuppressed()
    ) {
      return inner.dispatch(opts, handler);
    }
    let call: UndiciCall;
    try {
      const { host, port } = originOf(opts.origin);
      const method = typeof opts.method === 'string' ? opts.method.toUpperCase() : 'GET';
      const pipeline = this.install.pipelines.get(host, port, method, opts.path ?? '/');
      const innerOpts: DispatchOptions = { ...opts, [kGoverned]: true };
      call = new UndiciCall(inner, innerOpts, asLegacy(handler), pipeline, method);
    } catch (error) {
      this.install.context.logger.once(
        'agent-failure:undici.dispatch',
        'error',
        'fetch/undici protection failed; passing the call through unprotected',
        error,
      );
      return inner.dispatch(opts, handler);
    }
    call.start();
    return true;
  }

  close(...args: unknown[]): unknown {
    if (this.target?.close !== undefined) return this.target.close(...args);
    const callback = args.find(arg => typeof arg === 'function') as (() => void) | undefined;
    if (callback === undefined) return Promise.resolve();
    queueMicrotask(callback);
    return undefined;
  }

  destroy(...args: unknown[]): unknown {
    if (this.target?.destroy !== undefined) return this.target.destroy(...args);
    const callback = args.find(arg => typeof arg === 'function') as (() => void) | undefined;
    if (callback === undefined) return Promise.resolve();
    queueMicrotask(callback);
    return undefined;
  }

  // The rest of undici's Dispatcher API, from undici itself when first used.
  compose(...interceptors: unknown[]): unknown {
    const { prototype } = undiciPart<{ prototype: { compose(...a: unknown[]): unknown } }>(
      'dispatcher/dispatcher',
    );
    return prototype.compose.apply(this, interceptors);
  }

  request(...args: unknown[]): unknown {
    return undiciPart<(...a: unknown[]) => unknown>('api/api-request').apply(this, args);
  }

  stream(...args: unknown[]): unknown {
    return undiciPart<(...a: unknown[]) => unknown>('api/api-stream').apply(this, args);
  }

  pipeline(...args: unknown[]): unknown {
    return undiciPart<(...a: unknown[]) => unknown>('api/api-pipeline').apply(this, args);
  }

  connect(...args: unknown[]): unknown {
    return undiciPart<(...a: unknown[]) => unknown>('api/api-connect').apply(this, args);
  }

  upgrade(...args: unknown[]): unknown {
    return undiciPart<(...a: unknown[]) => unknown>('api/api-upgrade').apply(this, args);
  }
}

export function isBaldurDispatcher(value: unknown): value is BaldurDispatcher {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[kBaldurDispatcher] === true
  );
}

/** Wrap `dispatcher` for use as the global one (never twice). */
export function governed(install: FetchInstall, dispatcher: unknown): unknown {
  if (isBaldurDispatcher(dispatcher)) return dispatcher;
  if (
    typeof dispatcher !== 'object' ||
    dispatcher === null ||
    typeof (dispatcher as { dispatch?: unknown }).dispatch !== 'function' ||
    isInternal(dispatcher)
  ) {
    return dispatcher; // let undici reject it (or leave the agent's own dispatcher alone)
  }
  return new BaldurDispatcher(install, dispatcher as AnyDispatcher);
}

/**
 * Install the global dispatcher: wraps whatever is there (usually nothing yet,
 * so the inner undici Agent is created on the first request). Idempotent.
 */
export function installGlobalDispatcher(install: FetchInstall): void {
  const holder = globalThis as unknown as Record<symbol, unknown>;
  const existing = holder[GLOBAL_DISPATCHER];
  if (isBaldurDispatcher(existing)) return;
  const dispatcher =
    existing === undefined ? new BaldurDispatcher(install, undefined) : governed(install, existing);
  for (const key of [GLOBAL_DISPATCHER, GLOBAL_DISPATCHER_2]) {
    // undici's own setGlobalDispatcher defines these non-configurable (but writable): if it ran
    // first (a fetch before the agent, or the app's undici), assign instead of redefining.
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, key);
    if (descriptor === undefined || descriptor.configurable === true) {
      Object.defineProperty(globalThis, key, {
        value: dispatcher,
        writable: true,
        enumerable: false,
        configurable: true,
      });
    } else if (descriptor.writable === true) {
      holder[key] = dispatcher;
    } else {
      throw new Error(
        `the global dispatcher (${String(key)}) is read-only; fetch cannot be protected`,
      );
    }
  }
}

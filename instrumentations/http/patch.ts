import type * as http from 'node:http';
import type { Agent, ClientRequest, RequestOptions } from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { AgentContext } from '../shared/types';
import { isInternal } from '../shared/internal';
import { wrapMethod } from '../shared/patch';
import { HttpCall, hookClientRequests, replayState, type HttpModule } from './call';
import { HttpPipelines } from './dependency';
import { tracingSuppressed } from './suppressed';

const nodeRequire = createRequire(__filename);

type RequestFunction = (this: unknown, ...args: unknown[]) => ClientRequest;

interface Installed {
  readonly context: AgentContext;
  readonly pipelines: HttpPipelines;
}

/**
 * What a request is built with instead of its agent, so that the agent's
 * `addRequest` — called synchronously by the `ClientRequest` constructor with
 * the resolved options — starts the call; the real agent sees the request when
 * the pipeline admits the first attempt. It answers the few agent properties
 * the constructor reads and then gives the request its real agent back.
 *
 * Not `Object.create(realAgent)`: an object used as a prototype drops to
 * dictionary mode in V8, which would slow every internal access of the agent
 * (sockets, free lists) on every request.
 */
class AgentGate {
  constructor(
    readonly real: Agent,
    readonly mod: HttpModule,
    readonly install: Installed,
  ) {}

  // The agent properties `new ClientRequest()` reads before `addRequest`.
  get protocol(): unknown {
    return (this.real as { protocol?: unknown }).protocol;
  }

  get defaultPort(): unknown {
    return (this.real as { defaultPort?: unknown }).defaultPort;
  }

  get keepAlive(): unknown {
    return (this.real as { keepAlive?: unknown }).keepAlive;
  }

  get maxSockets(): unknown {
    return this.real.maxSockets;
  }

  addRequest(req: ClientRequest, opts: RequestOptions): void {
    const real = this.real;
    // From here on the request, and whoever reads `req.agent`, sees the application's agent.
    (req as unknown as { agent: Agent }).agent = real;
    let call: HttpCall;
    try {
      const host = typeof opts.host === 'string' ? opts.host : 'localhost';
      const port = Number(opts.port) || (real as { defaultPort?: number }).defaultPort || 80;
      const pipeline = this.install.pipelines.get(host, port, req.method, req.path);
      call = new HttpCall(req, opts, real, this.mod, pipeline);
    } catch (error) {
      this.install.context.logger.once(
        'agent-failure:http.request',
        'error',
        'http.request protection failed; passing the call through unprotected',
        error,
      );
      (real as Agent & { addRequest(r: ClientRequest, o: RequestOptions): void }).addRequest(
        req,
        opts,
      );
      return;
    }
    call.start();
  }
}

/** One gate per (module, real agent). */
const gates = new WeakMap<HttpModule, WeakMap<Agent, AgentGate>>();

function isUrlLike(value: unknown): boolean {
  if (value instanceof URL) return true;
  if (typeof value !== 'object' || value === null) return false;
  const url = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
  return (
    Boolean(url.href) && Boolean(url.protocol) && url.auth === undefined && url.path === undefined
  );
}

function gateFor(mod: HttpModule, real: Agent, install: Installed): AgentGate {
  let byAgent = gates.get(mod);
  if (byAgent === undefined) {
    byAgent = new WeakMap();
    gates.set(mod, byAgent);
  }
  let gate = byAgent.get(real);
  if (gate === undefined) {
    gate = new AgentGate(real, mod, install);
    byAgent.set(real, gate);
  }
  return gate;
}

/**
 * A gate passed back in as an agent is its agent: the options a real agent gets (and hands its
 * `createConnection`) still name the gate, and may be reused for a request of its own.
 */
function realAgentOf(agent: Agent): Agent {
  return agent instanceof AgentGate ? agent.real : agent;
}

/**
 * The arguments to call the original `request`/`get` with: the application's
 * options copied with `agent` replaced by the gate of the agent Node would
 * have used. `undefined` = leave the call alone (internal traffic, suppressed
 * tracing, unix sockets, custom `createConnection`, arguments Node rejects).
 */
function prepare(mod: HttpModule, install: Installed, args: unknown[]): unknown[] | undefined {
  if (tracingSuppressed()) return undefined;
  const first = args[0];
  let index: number;
  let options: (RequestOptions & Record<string, unknown>) | undefined;
  if (typeof first === 'string' || isUrlLike(first)) {
    index = 1;
    const second = args[1];
    options =
      typeof second === 'object' && second !== null
        ? (second as RequestOptions & Record<string, unknown>)
        : undefined;
  } else if (typeof first === 'object' && first !== null) {
    index = 0;
    options = first as RequestOptions & Record<string, unknown>;
  } else {
    return undefined;
  }
  if (options !== undefined && (options.socketPath !== undefined || isInternal(options))) {
    return undefined;
  }
  const agentOption = options?.agent as unknown;
  const defaultAgent = options?._defaultAgent ?? mod.globalAgent;
  let real: Agent;
  if (agentOption === false) {
    real = new (defaultAgent.constructor as new () => Agent)();
  } else if (agentOption === undefined || agentOption === null) {
    if (typeof options?.createConnection === 'function') return undefined;
    real = defaultAgent;
  } else if (
    typeof agentOption === 'object' &&
    typeof (agentOption as { addRequest?: unknown }).addRequest === 'function'
  ) {
    real = realAgentOf(agentOption as Agent);
  } else {
    return undefined;
  }
  if (real === undefined || real === null || isInternal(real)) return undefined;
  const copy = { ...options, agent: gateFor(mod, real, install) };
  // `args` is the wrapper's own rest array: edit it in place.
  if (index === 1 && options === undefined) args.splice(1, 0, copy);
  else args[index] = copy;
  return args;
}

function makeWrapper(
  mod: HttpModule,
  install: Installed,
  original: RequestFunction,
): RequestFunction {
  return function baldurHttpRequest(this: unknown, ...args: unknown[]): ClientRequest {
    if (replayState.depth > 0) return original.apply(this, args);
    let prepared: unknown[] | undefined;
    try {
      prepared = prepare(mod, install, args);
    } catch (error) {
      install.context.logger.once(
        'agent-failure:http.prepare',
        'error',
        'http.request protection failed; passing the call through unprotected',
        error,
      );
      prepared = undefined;
    }
    return original.apply(this, prepared ?? args);
  };
}

/** Patch `request` and `get` of `node:http` and `node:https` (idempotent). */
export function patchHttpModules(context: AgentContext): void {
  const install: Installed = { context, pipelines: new HttpPipelines(context) };
  hookClientRequests((nodeRequire('node:http') as typeof http).ClientRequest.prototype);
  for (const name of ['node:http', 'node:https']) {
    const mod = nodeRequire(name) as HttpModule & { get: RequestFunction };
    for (const method of ['request', 'get'] as const) {
      wrapMethod(mod as unknown as Record<string, unknown>, method, original =>
        makeWrapper(mod, install, original as unknown as RequestFunction),
      );
    }
  }
  // ESM named imports (`import { request } from 'node:http'`) are live bindings of these exports.
  syncBuiltinESMExports();
}

import type * as http from 'node:http';
import type { Agent, ClientRequest, RequestOptions } from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { AgentContext } from '../shared/types';
import { isInternal } from '../shared/internal';
import { isBaldurWrapped, wrapMethod } from '../shared/patch';
import {
  HttpCall,
  hookClientRequests,
  isGoverned,
  replayState,
  type AddRequest,
  type HttpModule,
} from './call';
import { HttpPipelines } from './dependency';
import { tracingSuppressed } from './suppressed';

const nodeRequire = createRequire(__filename);

type RequestFunction = (this: unknown, ...args: unknown[]) => ClientRequest;

interface Installed {
  readonly context: AgentContext;
  readonly pipelines: HttpPipelines;
  readonly http: HttpModule;
  readonly https: HttpModule;
  /** The `Agent.prototype.addRequest` Node's agents answer with once patched (ours). */
  governedAddRequest?: AddRequest;
}

/**
 * Start the call of a request its agent is about to take: `handOff` gives it to
 * the real agent once the pipeline admits it. A failure of ours hands it over at once.
 */
function govern(
  install: Installed,
  real: Agent,
  handOff: AddRequest,
  req: ClientRequest,
  opts: RequestOptions,
): void {
  let call: HttpCall;
  try {
    // The request's own fields where it has them: the options Node hands an agent are a
    // dictionary-mode copy, slower to read.
    const host = (req as { host?: unknown }).host;
    const port = Number(opts.port) || (real as { defaultPort?: number }).defaultPort || 80;
    const pipeline = install.pipelines.get(
      typeof host === 'string' ? host : 'localhost',
      port,
      req.method,
      req.path,
    );
    // Retries go through the module the request was made for (a custom agent may not say).
    const mod =
      (req as { protocol?: unknown }).protocol === 'https:' ? install.https : install.http;
    call = new HttpCall(req, opts, real, handOff, mod, pipeline);
  } catch (error) {
    install.context.logger.once(
      'agent-failure:http.request',
      'error',
      'http.request protection failed; passing the call through unprotected',
      error,
    );
    handOff.call(real, req, opts);
    return;
  }
  call.start();
}

/**
 * Node's agents (`http.Agent`, `https.Agent` and subclasses that keep its
 * `addRequest`) are governed where the `ClientRequest` constructor hands them
 * the request: nothing is copied or swapped on the way, and requests built by
 * code that captured `http.request` before the agent started are governed too.
 * Left alone: the agent's own retries and traffic, a request another path
 * already governs (a custom agent's `addRequest` calling ours), unix sockets,
 * suppressed tracing, and the legacy `addRequest(req, host, port)` form.
 */
function makeAddRequest(install: Installed, nodeAddRequest: AddRequest): AddRequest {
  return function addRequest(this: Agent, req: ClientRequest, opts: RequestOptions): void {
    if (
      replayState.depth > 0 ||
      isGoverned(req) ||
      typeof opts !== 'object' ||
      opts === null ||
      (req as { socketPath?: unknown }).socketPath !== undefined ||
      isInternal(this) ||
      tracingSuppressed()
    ) {
      // eslint-disable-next-line prefer-rest-params
      Reflect.apply(nodeAddRequest, this, arguments);
      return;
    }
    govern(install, this, nodeAddRequest, req, opts);
  };
}

/**
 * What a request to a custom agent (its own `addRequest`, e.g. a tunnelling or
 * proxy agent) is built with instead, so that the agent's `addRequest` —
 * called synchronously by the `ClientRequest` constructor with the resolved
 * options — starts the call; the real agent sees the request when the pipeline
 * admits the first attempt. It answers the few agent properties the
 * constructor reads and then gives the request its real agent back.
 *
 * Not `Object.create(realAgent)`: an object used as a prototype drops to
 * dictionary mode in V8, which would slow every internal access of the agent.
 */
class AgentGate {
  constructor(
    readonly real: Agent,
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
    const handOff = (real as unknown as { addRequest: AddRequest }).addRequest;
    if (tracingSuppressed()) handOff.call(real, req, opts);
    else govern(this.install, real, handOff, req, opts);
  }
}

/** One gate per custom agent. */
const gates = new WeakMap<Agent, AgentGate>();

/** Node's own test for a URL argument (no `instanceof`: that is a slow generic path here). */
function isUrlLike(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const url = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
  return (
    Boolean(url.href) && Boolean(url.protocol) && url.auth === undefined && url.path === undefined
  );
}

function gateFor(real: Agent, install: Installed): AgentGate {
  let gate = gates.get(real);
  if (gate === undefined) {
    gate = new AgentGate(real, install);
    gates.set(real, gate);
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

function answersWith(agent: object, addRequest: AddRequest | undefined): boolean {
  return (agent as { addRequest?: unknown }).addRequest === addRequest;
}

/**
 * The arguments to call the original `request`/`get` with when the request
 * would go to a custom agent: the application's options copied with `agent`
 * replaced by that agent's gate. `undefined` = call as given: Node's own agents
 * are governed at `addRequest`; left alone are unix sockets, a custom
 * `createConnection` without an agent, internal agents and arguments Node rejects.
 */
function gatedArguments(
  mod: HttpModule,
  install: Installed,
  args: IArguments,
): unknown[] | undefined {
  const first: unknown = args[0];
  let index: number;
  let options: (RequestOptions & Record<string, unknown>) | undefined;
  if (typeof first === 'string' || isUrlLike(first)) {
    index = 1;
    const second: unknown = args[1];
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
  const governed = install.governedAddRequest;
  const agentOption = options?.agent as unknown;
  const defaultAgent = options?._defaultAgent ?? mod.globalAgent;
  let real: Agent;
  if (agentOption === undefined || agentOption === null) {
    if (answersWith(defaultAgent, governed) || typeof options?.createConnection === 'function') {
      return undefined;
    }
    real = defaultAgent;
  } else if (agentOption === false) {
    const Default = defaultAgent.constructor as new () => Agent;
    if (answersWith(Default.prototype as object, governed)) return undefined;
    real = new Default();
  } else if (
    typeof agentOption === 'object' &&
    typeof (agentOption as { addRequest?: unknown }).addRequest === 'function'
  ) {
    if (answersWith(agentOption, governed)) return undefined;
    real = realAgentOf(agentOption as Agent);
  } else {
    return undefined;
  }
  if (
    real === undefined ||
    real === null ||
    options?.socketPath !== undefined ||
    isInternal(real)
  ) {
    return undefined;
  }
  const gated: unknown[] = Array.prototype.slice.call(args);
  const copy = { ...options, agent: gateFor(real, install) };
  if (index === 1 && options === undefined) gated.splice(1, 0, copy);
  else gated[index] = copy;
  return gated;
}

function makeWrapper(
  mod: HttpModule,
  install: Installed,
  original: RequestFunction,
): RequestFunction {
  return function baldurHttpRequest(this: unknown): ClientRequest {
    if (replayState.depth === 0) {
      let gated: unknown[] | undefined;
      try {
        // eslint-disable-next-line prefer-rest-params
        gated = gatedArguments(mod, install, arguments);
      } catch (error) {
        install.context.logger.once(
          'agent-failure:http.prepare',
          'error',
          'http.request protection failed; passing the call through unprotected',
          error,
        );
      }
      if (gated !== undefined) return original.apply(this, gated);
    }
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(original, this, arguments) as ClientRequest;
  };
}

/**
 * Patch `Agent.prototype.addRequest` (shared by `https.Agent`), the `ClientRequest`
 * hooks, and `request` and `get` of `node:http` and `node:https` for custom agents (idempotent).
 */
export function patchHttpModules(context: AgentContext): void {
  const httpModule = nodeRequire('node:http') as typeof http;
  const install: Installed = {
    context,
    pipelines: new HttpPipelines(context),
    http: httpModule,
    https: nodeRequire('node:https') as HttpModule,
  };
  hookClientRequests(httpModule.ClientRequest.prototype);
  const agentProto = httpModule.Agent.prototype as unknown as { addRequest: AddRequest };
  wrapMethod(
    agentProto,
    'addRequest',
    original => makeAddRequest(install, original as unknown as AddRequest) as () => void,
  );
  // Whichever copy patched it, an agent answering with a Baldur `addRequest` is governed there.
  if (isBaldurWrapped(agentProto.addRequest)) install.governedAddRequest = agentProto.addRequest;
  for (const mod of [install.http, install.https]) {
    for (const method of ['request', 'get'] as const) {
      wrapMethod(mod as unknown as Record<string, unknown>, method, original =>
        makeWrapper(mod, install, original as unknown as RequestFunction),
      );
    }
  }
  // ESM named imports (`import { request } from 'node:http'`) are live bindings of these exports.
  syncBuiltinESMExports();
}

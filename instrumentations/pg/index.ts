import { lazy } from '../shared/lazy';
import type * as Patch from './patch';
import type { ConnectionParametersClass } from './dependency';
import type { AgentContext, Instrumentation } from '../shared/types';
import type * as State from './state';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the app loads pg
const patches = lazy(() => require('./patch') as typeof Patch);
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the app loads pg
const states = lazy(() => require('./state') as typeof State);

/** pg 8.x (with its pg-pool 3.x). The pure-JS client only; pg-native is left alone. */
export const PG_VERSIONS = '>=8.0.0 <9';
export const PG_POOL_VERSIONS = '>=3.0.0 <4';

type Constructor = abstract new (...args: never[]) => unknown;

function prototypeOf(exports: unknown): Record<string, unknown> | undefined {
  const prototype =
    typeof exports === 'function' ? (exports as { prototype?: unknown }).prototype : undefined;
  return typeof prototype === 'object' && prototype !== null
    ? (prototype as Record<string, unknown>)
    : undefined;
}

/** A shimmer wrapper (an OpenTelemetry instrumentation got there first). */
function isShimmerWrapped(fn: unknown): boolean {
  const marked = fn as { __wrapped?: unknown; __original?: unknown } | undefined;
  return (
    typeof fn === 'function' &&
    marked?.__wrapped === true &&
    typeof marked.__original === 'function'
  );
}

/**
 * `pg/lib/client.js`: wrap `Client.prototype.query` — unless it already
 * carries a shimmer wrapper. `@opentelemetry/instrumentation-pg` patches this
 * file *and* the `pg` main module; when it was registered before the agent,
 * its second patch would see our (marker-free) wrapper as unwrapped and wrap
 * again: double spans. In that order the agent waits for the main module and
 * wraps there, on top: one OTel wrapper, ours outermost.
 */
function patchClientFile(exports: unknown, context: AgentContext): void {
  const state = states().pgState(context);
  state.Client = exports as Constructor;
  const prototype = prototypeOf(exports);
  if (prototype === undefined || isShimmerWrapped(prototype.query)) return;
  patches().wrapClientQuery(prototype, state);
}

/** The `pg` main module: the deferred Client wrap (see above); pg-native's Client is not ours to wrap. */
function patchMain(exports: unknown, context: AgentContext): void {
  const state = states().pgState(context);
  const Client = (exports as { Client?: unknown } | null)?.Client;
  if (Client === undefined || Client !== state.Client) return;
  const prototype = prototypeOf(Client);
  if (prototype !== undefined) patches().wrapClientQuery(prototype, state);
}

function patchPool(exports: unknown, context: AgentContext): void {
  const prototype = prototypeOf(exports);
  if (prototype === undefined) return;
  const state = states().pgState(context);
  patches().wrapPoolQuery(prototype, state);
  patches().wrapPoolConnect(prototype, state);
}

export const pgInstrumentation: Instrumentation = {
  name: 'pg',
  modules: [
    {
      module: 'pg',
      versions: PG_VERSIONS,
      file: 'lib/connection-parameters.js',
      // Not patched: kept so a Pool's dependency key resolves exactly like its clients' connections.
      patch(exports, context) {
        if (typeof exports === 'function')
          states().pgState(context).ConnectionParameters = exports as ConnectionParametersClass;
      },
    },
    { module: 'pg', versions: PG_VERSIONS, file: 'lib/client.js', patch: patchClientFile },
    { module: 'pg', versions: PG_VERSIONS, patch: patchMain },
    { module: 'pg-pool', versions: PG_POOL_VERSIONS, patch: patchPool },
  ],
};

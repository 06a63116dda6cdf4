import type { AgentContext, Instrumentation } from '../shared/types';
import type { Command, ConnectionClass } from './internals';
import { lazy } from '../shared/lazy';
import type * as Patch from './patch';
import type * as State from './state';

// Loaded when the app loads mysql2; an app that never does pays nothing for them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const patches = lazy(() => require('./patch') as typeof Patch);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const states = lazy(() => require('./state') as typeof State);

/** mysql2 3.x, callback and promise APIs (`mysql2`, `mysql2/promise`). */
export const MYSQL2_VERSIONS = '>=3.0.0 <4';

type Prototype = Record<string, unknown>;

function prototypeOf(exports: unknown): Prototype | undefined {
  const prototype =
    typeof exports === 'function' ? (exports as { prototype?: unknown }).prototype : undefined;
  return typeof prototype === 'object' && prototype !== null ? (prototype as Prototype) : undefined;
}

/**
 * mysql2 3.11.5 moved the methods of `Connection` and `Pool` into base
 * classes (`lib/base/connection.js`, `lib/base/pool.js`); earlier 3.x releases
 * define them on the classes themselves. Patch whichever prototype owns all
 * of `names` — the one `@opentelemetry/instrumentation-mysql2` patches too.
 */
function owningPrototype(exports: unknown, names: readonly string[]): Prototype | undefined {
  const prototype = prototypeOf(exports);
  if (prototype === undefined) return undefined;
  const base = Object.getPrototypeOf(prototype) as Prototype | null;
  if (base !== null && names.every(name => typeof base[name] === 'function')) return base;
  return names.every(name => typeof prototype[name] === 'function') ? prototype : undefined;
}

function patchConnection(exports: unknown, context: AgentContext): void {
  const state = states().mysqlState(context);
  if (typeof exports === 'function') state.Connection = exports as ConnectionClass;
  const createQuery = (exports as { createQuery?: unknown } | null)?.createQuery;
  if (typeof createQuery === 'function')
    state.createQuery = createQuery as NonNullable<typeof state.createQuery>;
  const prototype = owningPrototype(exports, ['query', 'execute']);
  if (prototype === undefined) return;
  patches().wrapConnectionQuery(prototype, state);
  patches().wrapConnectionExecute(prototype, state);
}

function patchPool(exports: unknown, context: AgentContext): void {
  const prototype = owningPrototype(exports, ['query', 'execute', 'getConnection']);
  if (prototype === undefined) return;
  const state = states().mysqlState(context);
  patches().wrapPoolQuery(prototype, state);
  patches().wrapPoolExecute(prototype, state);
  patches().wrapPoolGetConnection(prototype, state);
}

export const mysql2Instrumentation: Instrumentation = {
  name: 'mysql2',
  modules: [
    // Not patched, only remembered: to recognise a `Query` command passed in, and to build stand-ins.
    {
      module: 'mysql2',
      versions: MYSQL2_VERSIONS,
      file: 'lib/commands/query.js',
      patch(exports, context) {
        if (typeof exports === 'function')
          states().mysqlState(context).Query = exports as abstract new () => unknown;
      },
    },
    {
      module: 'mysql2',
      versions: MYSQL2_VERSIONS,
      file: 'lib/commands/execute.js',
      patch(exports, context) {
        if (typeof exports === 'function')
          states().mysqlState(context).Execute = exports as new (
            options: unknown,
            callback: unknown,
          ) => Command;
      },
    },
    {
      module: 'mysql2',
      versions: MYSQL2_VERSIONS,
      file: 'lib/connection.js',
      patch: patchConnection,
    },
    { module: 'mysql2', versions: MYSQL2_VERSIONS, file: 'lib/pool.js', patch: patchPool },
  ],
};

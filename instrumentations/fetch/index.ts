import type { AgentContext, Instrumentation } from '../shared/types';
import { wrapMethod } from '../shared/patch';
import { HttpPipelines } from '../http/dependency';
import { governed, installGlobalDispatcher, type FetchInstall } from './dispatcher';

let installed: FetchInstall | undefined;

function installFor(context: AgentContext): FetchInstall {
  installed ??= { context, pipelines: new HttpPipelines(context) };
  return installed;
}

/** Make the application's `setGlobalDispatcher(d)` install `d` wrapped by a Baldur dispatcher. */
function patchSetGlobalDispatcher(exports: unknown, context: AgentContext): void {
  const install = installFor(context);
  wrapMethod(
    exports as Record<string, unknown>,
    'setGlobalDispatcher',
    original =>
      function setGlobalDispatcher(this: unknown, dispatcher: unknown) {
        return original.call(this, governed(install, dispatcher) as never);
      },
  );
}

/**
 * `fetch` (Node's built-in undici) and the npm `undici` package (`request`,
 * `fetch`, `stream`, … through the global dispatcher). The agent installs a
 * global dispatcher that wraps whatever was there; an application's own
 * `setGlobalDispatcher(d)` is wrapped the same way. See ../http/README.md.
 */
export const fetchInstrumentation: Instrumentation = {
  name: 'fetch',
  modules: [
    // undici's index.js destructures setGlobalDispatcher from lib/global.js: patching that file
    // before index.js reads it covers `require('undici')` and ESM named imports alike.
    {
      module: 'undici',
      file: 'lib/global.js',
      versions: '>=5.0.0 <8',
      patch: patchSetGlobalDispatcher,
    },
    { module: 'undici', versions: '>=5.0.0 <8', patch: patchSetGlobalDispatcher },
  ],
  install(context) {
    installGlobalDispatcher(installFor(context));
  },
};

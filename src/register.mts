/**
 * ESM preload entry: `node --import baldur/register app.mjs`. Registers the
 * import-in-the-middle loader hook (so `import pg from 'pg'` can be patched; a
 * bare `--import` of an instrumentation's hook file does nothing on its own),
 * then starts the same agent as `--require`. No extra flags are needed.
 */
import { createRequire, register } from 'node:module';
import type * as ImportInTheMiddle from 'import-in-the-middle';

const require = createRequire(import.meta.url);
(globalThis as Record<symbol, unknown>)[Symbol.for('baldur.register.esm')] = true;

try {
  const { createAddHookMessageChannel } =
    require('import-in-the-middle') as typeof ImportInTheMiddle;
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  require('./register.js');
  // Hooks are added on the loader thread asynchronously; the app must not start importing before they are.
  await waitForAllMessagesAcknowledged();
} catch (error) {
  (globalThis as Record<symbol, unknown>)[Symbol.for('baldur.register.esm')] = false;
  process.stderr.write(
    `[baldur] error: the ESM loader hook could not be registered (${error instanceof Error ? error.message : String(error)}); ESM imports are not protected\n`,
  );
  require('./register.js');
}

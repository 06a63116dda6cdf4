/**
 * Preload entry: `node --require baldur/register app.js`. Starts the agent and
 * patches the supported clients as the application loads them. It never throws
 * into the host: anything unexpected is one line on stderr and the app runs
 * unprotected. (ESM apps use `--import baldur/register`, which also installs the
 * ESM loader hook and then runs this file.)
 */
import { startAgent } from './agent/agent';

const kEsm = Symbol.for('baldur.register.esm');

try {
  startAgent({ esm: (globalThis as Record<symbol, unknown>)[kEsm] === true });
} catch (error) {
  process.stderr.write(
    `[baldur] error: the agent failed to start (${error instanceof Error ? error.message : String(error)}); the application runs unprotected\n`,
  );
}

import type { BaldurConfig } from '../../src/config/load';
import type { InstrumentationName } from '../../src/config/schema';
import type { Engine } from '../../src/engine/engine';
import type { Logger } from '../../src/log';

/** What every instrumentation gets from the agent. */
export interface AgentContext {
  readonly engine: Engine;
  readonly logger: Logger;
  readonly config: BaldurConfig;
}

/** A patch applied when the application loads an npm package (CommonJS or ESM). */
export interface ModulePatch {
  /** Package name as the app imports it, e.g. `pg`. */
  readonly module: string;
  /** Supported versions (`>=8.0.0 <9`); other versions are left alone, with one log line. */
  readonly versions: string;
  /** A file inside the package to patch instead of its main export, e.g. `lib/client.js`. */
  readonly file?: string;
  /** Patch `exports` in place. Must be idempotent (use `wrapMethod`). */
  patch(exports: unknown, context: AgentContext, version: string): void;
}

/**
 * One client library's protection. Every instrumentation folder has the same
 * files: `index.ts` (this definition), `patch.ts` (the wrappers), `classify.ts`
 * (what counts as a failure), `dependency.ts` (dependency keys) and, where it
 * matters, `retry-safety.ts` (what may be repeated).
 */
export interface Instrumentation {
  readonly name: InstrumentationName;
  readonly modules: readonly ModulePatch[];
  /** Work done once when the agent starts (Node built-ins, the global dispatcher). */
  install?(context: AgentContext): void;
}

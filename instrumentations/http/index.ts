import type { Instrumentation } from '../shared/types';
import { patchHttpModules } from './patch';

/**
 * `node:http` and `node:https`: `request` and `get` on both modules, patched
 * when the agent starts (built-ins are always there). See README.md beside
 * this file for what counts as a failure and what is retried.
 */
export const httpInstrumentation: Instrumentation = {
  name: 'http',
  modules: [],
  install(context) {
    patchHttpModules(context);
  },
};

import type { Instrumentation } from '../shared/types';
import { lazy } from '../shared/lazy';
import type * as Patch from './patch';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the app loads ioredis
const patches = lazy(() => require('./patch') as typeof Patch);

/**
 * ioredis 5 and 6: single commands, pipelines, MULTI/EXEC, auto-pipelining and
 * Cluster, each as one governed call per command or per batch. See README.md
 * in this folder for what counts as a failure and what is retried.
 */
export const ioredisInstrumentation: Instrumentation = {
  name: 'ioredis',
  modules: [
    {
      module: 'ioredis',
      versions: '>=5.0.0 <7',
      patch: (exports, context) => patches().patchIoredis(exports, context),
    },
  ],
};

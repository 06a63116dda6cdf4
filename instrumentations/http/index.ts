import type { Instrumentation } from '../shared/types';

// Placeholder while the http instrumentation is being written; it patches nothing.
export const httpInstrumentation: Instrumentation = { name: 'http', modules: [] };

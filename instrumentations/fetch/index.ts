import type { Instrumentation } from '../shared/types';

// Placeholder while the fetch instrumentation is being written; it patches nothing.
export const fetchInstrumentation: Instrumentation = { name: 'fetch', modules: [] };

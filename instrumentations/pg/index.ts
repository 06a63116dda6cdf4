import type { Instrumentation } from '../shared/types';

// Placeholder while the pg instrumentation is being written; it patches nothing.
export const pgInstrumentation: Instrumentation = { name: 'pg', modules: [] };

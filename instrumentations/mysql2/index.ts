import type { Instrumentation } from '../shared/types';

// Placeholder while the mysql2 instrumentation is being written; it patches nothing.
export const mysql2Instrumentation: Instrumentation = { name: 'mysql2', modules: [] };

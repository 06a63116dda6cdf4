import type { Instrumentation } from '../shared/types';

// Placeholder while the ioredis instrumentation is being written; it patches nothing.
export const ioredisInstrumentation: Instrumentation = { name: 'ioredis', modules: [] };

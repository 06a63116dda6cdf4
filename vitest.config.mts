import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start real processes and talk to real servers; give them room but never hang.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: suites that spawn worker processes must not all run at once.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});

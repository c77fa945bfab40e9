import { defineConfig } from 'vitest/config';

// Suites that restart the database server: run alone, after the others (`npm test`).
export default defineConfig({
  test: {
    include: ['test/outage/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});

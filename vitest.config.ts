import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/outage restarts a database server: vitest.outage.config.ts runs it alone, after these.
    exclude: [...configDefaults.exclude, 'test/outage/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});

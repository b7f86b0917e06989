import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Backends and crash tests spawn real processes and talk to real servers; the
    // machine has two cores, so files run two at a time with generous timeouts.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Type tests (test/**/*.test-d.ts) are checked by `tsc --noEmit`, which npm test runs
    // before Vitest: running tsc again here would double the cost of every test run.
  },
});

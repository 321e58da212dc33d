import { defineConfig } from 'vitest/config';

// Tests import src/*.ts directly; the CPU workers they start load dist/ (built by `pretest`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    // the t_* loops and test controls live in the test build of the core (assembly/build_flags.ts);
    // test/integration/core-variants.test.ts checks that runs use the released core otherwise
    env: { FAULTLINE_CORE: 'test' },
    // test/setup.ts registers the Node platform; every counter must move somewhere in the suite
    // (test/support/counters-global.ts, fed by test/support/counters-record.ts)
    setupFiles: ['test/setup.ts', 'test/support/counters-record.ts'],
    globalSetup: ['test/support/counters-global.ts'],
  },
});

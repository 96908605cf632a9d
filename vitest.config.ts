import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The app run from its sources serves the dashboard's script from dist/: bundled there first.
    globalSetup: ['test/support/dashboardScript.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start their own servers; two workers fit a 2-core CI machine.
    maxWorkers: 2,
  },
});

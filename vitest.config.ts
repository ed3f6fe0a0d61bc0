import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'sdk/test/**/*.test.ts', 'web/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The console's browser tests serve web/dist: built once here when its sources are newer.
    globalSetup: ['test/helpers/build-console.ts'],
    pool: 'forks',
    // Two files at a time on the 2-core CI machine (vitest's default there is one): most end-to-end
    // files wait on servers, browsers and brokers, so two overlap well. Ports: see freePort().
    maxWorkers: Number(process.env.SEALPOST_TEST_WORKERS ?? 2),
  },
});

import { defineConfig } from 'vitest/config';

// Browser end-to-end tests: a real Parley server (built once in global setup) and Debian's Chromium through
// playwright-core. Files run one after another: each starts its own server and browser.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['**/*.e2e.test.ts'],
    globalSetup: ['./support/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Node 20 has WebSocket behind a flag (the protocol client test runs in Node against the real server).
    execArgv: typeof WebSocket === 'undefined' ? ['--experimental-websocket'] : [],
  },
});

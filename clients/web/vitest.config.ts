import { defineConfig } from 'vitest/config';

// Unit tests: the protocol client and the state store, against fakes (no network, no browser).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});

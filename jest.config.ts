import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'test/tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  setupFiles: ['<rootDir>/test/support/quiet.ts', '<rootDir>/test/support/keep-alive.ts'],
  testTimeout: 30_000,
  // Each test file starts its own providers on random loopback ports; two workers fit a 2-core CI box.
  maxWorkers: 2,
};

export default config;

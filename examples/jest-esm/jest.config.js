// #region jest-config-esm
// ts-jest in ESM mode: run jest with `node --experimental-vm-modules` (see package.json).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  // The tests import './app.js' as Node's ESM resolution wants; jest finds app.ts.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
};
// #endregion

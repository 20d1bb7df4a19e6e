// #region jest-config-cjs
// ts-jest in CommonJS mode (jest's default). express-oidc-login is an ES module, as are
// openid-client and jose under it: jest >= 30 on Node >= 24.9 require()s them as Node does;
// on Node 20 and 22, jest's CommonJS loader cannot, so let ts-jest compile them to CommonJS too.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.[tj]s$': 'ts-jest' },
  transformIgnorePatterns: ['/node_modules/(?!(express-oidc-login|openid-client|oauth4webapi|jose)/)'],
};
// #endregion

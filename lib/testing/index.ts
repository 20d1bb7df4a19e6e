/**
 * `express-oidc-login/testing`: a test kit for apps that use the middleware. A small OpenID
 * Provider in the test process, and a logged-in supertest agent in one call:
 *
 * @example
 * import { startTestProvider, loginAs } from 'express-oidc-login/testing';
 * const provider = await startTestProvider();
 * const app = createApp({ ...provider.options() });
 * const agent = await loginAs(app, { sub: 'alice', groups: ['admin'] });
 * await agent.get('/admin').expect(200);
 *
 * Not imported by the main entry; needs supertest (the app's own devDependency) for `loginAs` and
 * `backchannelLogout` only. Never use it outside tests: the provider logs in anyone you ask for.
 */
export { startTestProvider } from './test-provider.js';
export { loginAs } from './login-as.js';
export type {
  BackchannelLogoutOptions,
  LoginAsOptions,
  LogoutTokenClaims,
  TestAgent,
  TestApp,
  TestLoginRecord,
  TestLogoutRecord,
  TestProvider,
  TestProviderClientOptions,
  TestProviderCounts,
  TestProviderOptions,
  TestResponse,
  TestUser,
} from './types.js';

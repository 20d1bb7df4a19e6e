import { oidcLogin as realOidcLogin } from 'express-oidc-login';

export * from 'express-oidc-login';
export const oidcLogin = (options) => realOidcLogin({ ...options, dangerouslyAllowInsecureHttp: true });

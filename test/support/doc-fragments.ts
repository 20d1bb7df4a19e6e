import ts from 'typescript';

/**
 * What a `<!-- fragment -->` code block of the docs leaves out, so that it can be type-checked as
 * written: the package's exports, express and express-session, the app, and the names the pages use
 * for values the reader has (`issuer`, `clientId`, `handler`...). A name the fragment declares or
 * imports itself is left out of the prelude.
 */
const PRELUDE: Record<string, string> = {
  express: `import express from 'express';`,
  session: `import session from 'express-session';`,
  ...Object.fromEntries(
    [
      'oidcLogin',
      'requireAuth',
      'claimEquals',
      'claimIncludes',
      'claimCheck',
      'isAuthenticated',
      'authenticated',
      'OidcError',
      'OidcAuthorizationError',
      'OidcConfigError',
      'safeReturnTo',
      'loginFromSession',
      'guardSessionStore',
      'github',
      'google',
      'auth0Logout',
      'cognitoLogout',
    ].map((name) => [name, `import { ${name} } from 'express-oidc-login';`]),
  ),
  startTestProvider: `import { startTestProvider } from 'express-oidc-login/testing';`,
  loginAs: `import { loginAs } from 'express-oidc-login/testing';`,
  app: `declare const app: import('express').Express;`,
  handler: `declare const handler: import('express').RequestHandler;`,
  issuer: `declare const issuer: string;`,
  clientId: `declare const clientId: string;`,
  clientSecret: `declare const clientSecret: string;`,
  baseUrl: `declare const baseUrl: string;`,
  secret: `declare const secret: string;`,
  authorizationEndpoint: `declare const authorizationEndpoint: string;`,
  tokenEndpoint: `declare const tokenEndpoint: string;`,
  store: `declare const store: import('express-session').Store & Required<Pick<import('express-session').Store, 'all'>>;`,
  logger: `declare const logger: { info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };`,
  audit: `declare const audit: { info(...args: unknown[]): void; warn(...args: unknown[]): void };`,
  tenantOf: `declare function tenantOf(sub: string): Promise<string>;`,
  customers: `declare const customers: { has(tenant: string): Promise<boolean> };`,
  createApp: `declare function createApp(options: import('express-oidc-login').OidcLoginOptions): import('express').Express;`,
  expect: `import { expect } from '@jest/globals';`,
};

/** The names a module declares or imports at its top level. */
function declaredNames(code: string): Set<string> {
  const source = ts.createSourceFile('fragment.ts', code, ts.ScriptTarget.ES2022, false);
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) addBinding(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause) {
      const clause = statement.importClause;
      if (clause.name) names.add(clause.name.text);
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings))
        for (const element of bindings.elements) names.add(element.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) addBinding(declaration.name);
    } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
      names.add(statement.name.text);
    }
  }
  return names;
}

/** A fragment as a module: the prelude lines it needs, then the fragment as written. */
export function asModule(fragment: string): string {
  const own = declaredNames(fragment);
  const prelude = Object.entries(PRELUDE)
    .filter(([name]) => !own.has(name))
    .map(([, line]) => line);
  return `${prelude.join('\n')}\nexport {};\n${fragment}\n`;
}

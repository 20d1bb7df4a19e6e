import type supertest from 'supertest';

type Supertest = typeof supertest;

let loaded: Promise<Supertest> | undefined;

/**
 * supertest, from the app's own devDependencies. Imported on first use (never at load time), so
 * that this module loads without it and the error says what to do.
 */
export function loadSupertest(): Promise<Supertest> {
  loaded ??= import('supertest').then(
    (mod: { default?: Supertest } & Partial<Supertest>) => mod.default ?? (mod as unknown as Supertest),
    (err: unknown) => {
      loaded = undefined;
      const code = (err as { code?: unknown })?.code;
      const message = String((err as Error)?.message);
      if (
        (code === 'ERR_MODULE_NOT_FOUND' ||
          code === 'MODULE_NOT_FOUND' ||
          /Cannot find (module|package)/.test(message)) &&
        message.includes('supertest')
      ) {
        throw new Error(
          'express-oidc-login/testing: loginAs() and backchannelLogout() drive your app with supertest, which is not installed. ' +
            'Add it to your devDependencies: npm install --save-dev supertest (and @types/supertest with TypeScript).',
          { cause: err },
        );
      }
      throw err;
    },
  );
  return loaded;
}

import type * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcAuthorizationError, OidcError } from '../util/errors.js';
import type { StoredDPoPKey, StoredTransaction } from '../types.js';
import { issuerMatches } from '../vendors/entra.js';
import { dpopNotBound, isDPoPTokenType } from './dpop.js';
import { isExpired } from './pending-logins.js';
import { tokenEndpointError } from './provider-errors.js';
import { DEFAULT_PROVIDER } from './provider-set.js';
import type { Provider } from './provider.js';
import { stepUpTokenError } from './step-up.js';

const debug = createDebug('express-oidc-login:callback');

/**
 * The callback's engine, up to the tokens: the authorization response and the transaction it
 * answers checked, then the code exchanged (with a DPoP key of its own when configured).
 */

const PROVIDER_MIXUP =
  'This login response arrived at the callback of another identity provider than the one the login was started at, ' +
  'so it was refused and nothing was sent to either provider. Start again from the login page.';

export function invalidCallback(reason: string): OidcError {
  return new OidcError(
    'ERR_OIDC_INVALID_CALLBACK',
    400,
    `The login response is invalid: ${reason} Start again from the login page.`,
  );
}

/** The authorization response's one `state`. */
export function responseState(params: URLSearchParams): string {
  const states = params.getAll('state');
  if (states.length === 0) {
    throw new OidcError(
      'ERR_OIDC_MISSING_STATE',
      400,
      'The login response has no "state" parameter. Start again from the login page.',
    );
  }
  if (states.length > 1) throw invalidCallback('it repeats the "state" parameter.');
  return states[0]!;
}

/** The transaction may be finished here: started at this provider (no mix-up), not expired. */
export function checkTransaction(tx: StoredTransaction, config: ResolvedConfig): void {
  // Mix-up defence (RFC 9700 4.4): a login started at another provider is never finished here.
  if ((tx.provider ?? DEFAULT_PROVIDER) !== (config.providerName ?? DEFAULT_PROVIDER)) {
    debug(
      'the transaction belongs to provider %s, not %s: refused',
      tx.provider ?? DEFAULT_PROVIDER,
      config.providerName ?? DEFAULT_PROVIDER,
    );
    throw new OidcError('ERR_OIDC_PROVIDER_MIXUP', 400, PROVIDER_MIXUP);
  }
  if (isExpired(tx, config, Date.now())) {
    throw new OidcError(
      'ERR_OIDC_TRANSACTION_EXPIRED',
      400,
      'This login took too long and has expired. Start again from the login page.',
    );
  }
}

/**
 * The authorization response checks, done here first so that their errors are told apart from
 * the token request's; openid-client repeats them. Returns the `iss` parameter, if any: with an
 * Entra `{tenantid}` issuer, any tenant's issuer, which the ID token must then name.
 */
export function checkAuthorizationResponse(
  params: URLSearchParams,
  metadata: Readonly<client.ServerMetadata>,
): string | undefined {
  checkResponseShape(params);
  const iss = params.getAll('iss');
  if (iss.length === 1 && !issuerMatches(iss[0]!, metadata.issuer)) {
    throw invalidCallback('it comes from another identity provider ("iss" does not match).');
  }
  if (iss.length === 0 && metadata.authorization_response_iss_parameter_supported) {
    throw invalidCallback('the "iss" parameter is missing.');
  }
  const error = params.getAll('error');
  if (error.length > 0) {
    const description = params.get('error_description') ?? undefined;
    throw new OidcAuthorizationError(error[0]!, description);
  }
  const code = params.getAll('code');
  if (code.length !== 1 || code[0] === '') throw invalidCallback('it must carry exactly one "code".');
  return iss[0];
}

/**
 * What the authorization code flow never returns in the front channel: tokens (an implicit or
 * hybrid response, or tokens injected into ours; `token` is oauth4webapi's name for them) and a
 * JARM `response`, which this client never asks for.
 */
const NOT_IN_CODE_RESPONSE = [
  'id_token',
  'access_token',
  'token',
  'token_type',
  'expires_in',
  'refresh_token',
  'response',
] as const;

/** The response parameters named in messages; any other name is the browser's and is not echoed. */
const NAMED_PARAMETERS = new Set<string>([
  ...NOT_IN_CODE_RESPONSE,
  'code',
  'state',
  'iss',
  'error',
  'error_description',
  'error_uri',
  'session_state',
  'scope',
]);

/**
 * The response as the code flow makes it, before anything else reads it: no parameter twice
 * (RFC 6749 3.1) and none of {@link NOT_IN_CODE_RESPONSE}. What the browser brings is answered
 * 400 `ERR_OIDC_INVALID_CALLBACK` here, never blamed on the provider.
 */
function checkResponseShape(params: URLSearchParams): void {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) throw invalidCallback(`it repeats ${parameterName(name)}.`);
    seen.add(name);
  }
  const foreign = NOT_IN_CODE_RESPONSE.find((name) => seen.has(name));
  if (foreign !== undefined) {
    throw invalidCallback(
      `it carries "${foreign}", which the authorization code flow never returns (a token injected into the login response?).`,
    );
  }
}

function parameterName(name: string): string {
  return NAMED_PARAMETERS.has(name) ? `the "${name}" parameter` : 'a parameter';
}

/** A silent login (prompt=none) that found no session at the provider: not an error, the user is not logged in. */
export function silentLoginDeclined(tx: StoredTransaction, err: unknown): err is OidcAuthorizationError {
  return !!tx.silent && err instanceof OidcAuthorizationError && err.code === 'ERR_OIDC_ACCESS_DENIED';
}

/** A step-up's max_age (from the login route), else the configured one. */
export function requestedMaxAge(tx: StoredTransaction, config: ResolvedConfig): number | undefined {
  return tx.maxAge ?? config.maxAge;
}

/** What the code exchange gave: the tokens, and the DPoP key they are bound to. */
export interface ExchangedCode {
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  dpop?: { stored: StoredDPoPKey; handle: client.DPoPHandle };
}

/**
 * The code exchanged at the token endpoint, and the ID token validated by openid-client (state,
 * nonce, PKCE, max_age, iss, aud, exp...); its errors mapped (provider-errors.ts).
 */
export async function exchangeCode(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  tx: StoredTransaction,
  state: string,
  currentUrl: URL,
  issParam: string | undefined,
): Promise<ExchangedCode> {
  const maxAge = requestedMaxAge(tx, config);
  // DPoP: a key pair for this login alone, made now (PKCE already binds the code to this
  // transaction, so /login needs none: abandoned logins cost no key and no storage).
  const dpop = config.dpop ? await provider.dpopKeys.create(config.dpop.alg) : undefined;
  const dpopHandle = dpop && (await dpop.key.handle(configuration));
  let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  try {
    tokens = await provider.authorizationCodeGrant(
      currentUrl,
      config.openid
        ? {
            pkceCodeVerifier: tx.verifier,
            expectedState: state,
            expectedNonce: tx.nonce,
            idTokenExpected: true,
            ...(maxAge !== undefined && { maxAge }),
          }
        : // Plain OAuth 2.0: no nonce was sent and no ID token is expected; state and PKCE as always.
          { pkceCodeVerifier: tx.verifier, expectedState: state },
      issParam,
      dpopHandle && { DPoP: dpopHandle },
    );
  } catch (err) {
    throw stepUpTokenError(err, tx.maxAge) ?? tokenEndpointError(err, 'code', config.clientAuthMethod);
  }
  // Asked for DPoP, got a token anyone holding it can use: refused, nothing stored.
  if (dpop && !isDPoPTokenType(tokens.token_type)) throw dpopNotBound('login', tokens.token_type);
  return { tokens, ...(dpop && { dpop: { stored: dpop.stored, handle: dpopHandle! } }) };
}

import type { DPoPAlg } from '../types.js';
import type { ClientAssertionAlg, ClientAuthMethod } from './credential-types.js';

/** All defaults, in one place. */
export const DEFAULTS = Object.freeze({
  scope: 'openid profile email',
  loginPath: '/login',
  callbackPath: '/callback',
  logoutPath: '/logout',
  backchannelLogoutPath: '/backchannel-logout',
  frontchannelLogoutPath: '/frontchannel-logout',
  jwksPath: '/jwks.json',
  refreshLeeway: 60,
  absoluteDuration: 7 * 24 * 60 * 60,
  idleDuration: 24 * 60 * 60,
  clientAuthMethod: 'client_secret_basic' as ClientAuthMethod,
  dpopAlg: 'ES256' as DPoPAlg,
  idTokenSigningAlg: 'RS256',
  httpTimeout: 5000,
  clockTolerance: 60,
  logoutTokenMaxAge: 120,
  transactionMaxAge: 10 * 60 * 1000,
  maxPendingLogins: 5,
  defaultReturnTo: '/',
  responseMode: 'query' as 'query' | 'form_post',
  discovery: 'oidc' as 'oidc' | 'oauth2',
  fetchUserInfo: 'auto' as boolean | 'auto',
  keepSessionData: false as 'all' | readonly string[] | false,
  discoveryMaxAge: 60 * 60,
  resourceParameter: 'resource' as 'resource' | 'audience',
});

/** The shortest `secret` accepted, and the shortest client secret a cookie key is derived from. */
export const MIN_SECRET_LENGTH = 32;

// The largest values accepted, each written once: resolveConfig() checks against them and its
// messages quote them.

/** `discoveryMaxAge`, seconds: a minute at least. Each refresh is one request to the provider per app instance. */
export const MIN_DISCOVERY_MAX_AGE = 60;
/** `discoveryMaxAge`, seconds: a week at most. A provider's changed endpoints or keys' location go unseen that long. */
export const MAX_DISCOVERY_MAX_AGE = 7 * 24 * 60 * 60;
/** `refreshLeeway`, seconds: an hour. A leeway as long as the access token lives would refresh it on every request. */
export const MAX_REFRESH_LEEWAY = 3600;
/** `clockTolerance`, seconds: five minutes. More would accept ID tokens long expired or not yet valid. */
export const MAX_CLOCK_TOLERANCE = 300;
/** `httpTimeout`, milliseconds: two minutes. A request to the provider holds the user's request that long. */
export const MAX_HTTP_TIMEOUT = 120_000;
/** `transactionMaxAge`, milliseconds: an hour. A started login's state, nonce and PKCE verifier live no longer. */
export const MAX_TRANSACTION_AGE = 60 * 60 * 1000;
/** `logoutTokenMaxAge`, seconds: an hour. The window in which a logout token without `exp` can be replayed to another app. */
export const MAX_LOGOUT_TOKEN_AGE = 3600;
/** `maxPendingLogins`: logins started at once in one browser (each one a cookie in cookie mode). */
export const MAX_PENDING_LOGINS = 50;
/**
 * A pending-login cookie, bytes (`name=value`): browsers keep cookies up to about 4,096 bytes of
 * name and value and drop larger ones silently (the callback would find no login). A pending
 * login that would be larger returns to `defaultReturnTo` instead of its own `returnTo`.
 */
export const MAX_PENDING_LOGIN_COOKIE_BYTES = 4000;
/**
 * Access tokens for other APIs (`getAccessToken({ resource })`) kept in one session at most; the
 * least recently fetched goes first. Each costs about a kilobyte of session (a JWT access token).
 */
export const MAX_RESOURCE_TOKENS = 8;
/** A resource indicator or audience, characters. */
export const MAX_RESOURCE_LENGTH = 2048;
/** A provider's `label`, characters: the chooser page shows it as a link. */
export const MAX_LABEL_LENGTH = 100;
/**
 * A value of a parameter `/login` forwards from its query (`authorizationParamsFromQuery`),
 * characters: an e-mail `login_hint` is at most 254, locales and organisation ids far less; a
 * browser's URL stays well within what servers and proxies accept.
 */
export const MAX_QUERY_PARAM_LENGTH = 512;
/**
 * `req.oidc.login({ appState })`, bytes of its JSON: it travels sealed in the pending login's
 * cookie, which must fit a browser's 4096-byte cookie beside a `returnTo` of up to 2048 characters
 * (sealed and base64url: about 4/3 of the plaintext). More belongs in the session.
 */
export const MAX_APP_STATE_BYTES = 512;

/**
 * The asymmetric JWS algorithms: those accepted for `idTokenSigningAlg` and for the client
 * assertions of `private_key_jwt` (a shared secret would let whoever holds it sign for the other side).
 */
export const ASYMMETRIC_ALGS: readonly ClientAssertionAlg[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/**
 * The DPoP proof algorithms a login key can be made for (RFC 9449 §4.2: asymmetric only). No RSA:
 * a key pair is made at every callback that reaches the token request, and a 2048-bit RSA one
 * costs ~170 ms of CPU (P-256 and Ed25519 ≈ 0.5 ms, P-384 ≈ 2.4 ms), so looping /login + /callback would
 * burn the server's CPU. Providers that support DPoP accept ES256.
 */
export const DPOP_ALGS: readonly DPoPAlg[] = Object.freeze(['ES256', 'ES384', 'EdDSA', 'Ed25519']);

/** Algorithms refused for DPoP keys, with the reason (see {@link DPOP_ALGS}). */
export const REFUSED_DPOP_ALGS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);

/**
 * `returnTo`, characters, before and after it is normalised (normalising can triple a value:
 * `<` becomes `%3C`). Defined beside `safeReturnTo()` (util/ is the floor and cannot import this
 * file); listed here with the other limits.
 */
export { MAX_RETURN_TO_LENGTH } from '../util/url.js';

/**
 * How often a setup mistake that shows on every request (discovery failing, logins started at
 * another host than `baseUrl`'s) is logged again, milliseconds: at most once a minute.
 */
export const SETUP_LOG_INTERVAL_MS = 60_000;

/**
 * How long one call to a store on the network may take, milliseconds: a session store call under
 * `guardSessionStore()` (its default `timeout`), a coordinator's Redis command (`coordinator.timeout`'s
 * default). A store that hangs fails the request with 503 instead of holding it.
 */
export const STORE_TIMEOUT_MS = 2000;
/** The coordinator's key prefix (after connect-redis's own, when its client is used). */
export const COORDINATOR_PREFIX = 'oidc:';

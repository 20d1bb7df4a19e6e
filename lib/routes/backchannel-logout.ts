import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { emit } from '../flow/events.js';
import type { Provider } from '../flow/provider.js';
import {
  endSessions,
  forgetJti,
  NoSessionStoreError,
  rememberJti,
  SessionStoreFailure,
} from '../session/session-index.js';
import type { OidcRequest } from '../session/express-session.js';
import { expectedIssuer } from '../vendors/entra.js';
import { readLimitedBody } from '../util/body.js';
import { LogLimit } from '../util/log-limit.js';
import { MAX_SUB_LENGTH } from '../flow/tokens.js';
import { SETUP_LOG_INTERVAL_MS } from '../options/defaults.js';

const debug = createDebug('express-oidc-login:backchannel-logout');

/** The largest request body read, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token's `sub` and `sid`: `sub`'s limit, for both. */
export const MAX_CLAIM_LENGTH = MAX_SUB_LENGTH;
const MAX_JTI_LENGTH = 1024;

/**
 * Why a back-channel logout failed. Back-Channel Logout 1.0 §2.8: a request that fails validation
 * or a logout that fails is a 400, with an OAuth-style `error` / `error_description`:
 * - `invalid_request`: the request or the logout token is bad (retrying it is pointless);
 * - `temporarily_unavailable`: the session store or the provider failed (the token's `jti` is
 *   not kept, so the provider may retry the same token);
 * - `server_error`: this app cannot do back-channel logout at all (no session store).
 */
class LogoutRequestError extends Error {
  readonly error: 'invalid_request' | 'temporarily_unavailable' | 'server_error';
  constructor(error: LogoutRequestError['error'], description: string, options?: { cause?: unknown }) {
    super(description, options);
    this.error = error;
  }
}

function invalid(description: string, cause?: unknown): LogoutRequestError {
  return new LogoutRequestError('invalid_request', description, cause === undefined ? undefined : { cause });
}

/**
 * `POST /backchannel-logout` (OpenID Connect Back-Channel Logout 1.0): validates the logout token
 * fully (shape and claims before any key lookup, then the signature with the provider's JWKS, then
 * replay), ends the sessions it names (see session-index.ts) and answers 200, or 400 with a JSON
 * error; always `Cache-Control: no-store`. Errors are answered here, never passed to `next()`.
 */
export function backchannelLogoutHandler(config: ResolvedConfig, provider: Provider) {
  const warnRefused = refusalWarnings(config);
  return async function backchannelLogout(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    let claims: LogoutClaims | undefined;
    let jtiKept = false;
    try {
      const token = await readLogoutToken(req);
      const { header, payload } = decodeJws(token);

      const configuration = await provider.getConfiguration().catch((err: unknown) => {
        throw new LogoutRequestError(
          'temporarily_unavailable',
          "The identity provider's configuration is unavailable.",
          { cause: err },
        );
      });
      const metadata = provider.clientMetadata(configuration);
      const alg = metadata.id_token_signed_response_alg ?? config.idTokenSigningAlg;
      claims = checkLogoutToken(header, payload, {
        alg,
        issuer: logoutTokenIssuer(payload, provider.metadata(configuration).issuer, config.allowedTenants),
        clientId: metadata.client_id,
        additionalAudiences: config.additionalAudiences,
        clockTolerance: config.clockTolerance,
        logoutTokenMaxAge: config.logoutTokenMaxAge,
      });

      try {
        await provider.verifySignature(token, alg);
      } catch (err) {
        if (err instanceof OidcError && err.code === 'ERR_OIDC_ID_TOKEN_INVALID') {
          throw invalid("The logout token's signature could not be verified with the identity provider's keys.", err);
        }
        throw new LogoutRequestError(
          'temporarily_unavailable',
          "The identity provider's signing keys are unavailable.",
          { cause: err },
        );
      }

      if (!(await rememberJti(req, config, claims.iss, claims.jti, claims.exp))) {
        throw invalid('This logout token was used before (its "jti" was seen).');
      }
      jtiKept = true;
      const count = await endSessions(req, config, { iss: claims.iss, sid: claims.sid, sub: claims.sub });
      emit(config, 'backchannelLogout', { sub: claims.sub, sid: claims.sid, detail: count }, req);
      res.statusCode = 200;
      res.setHeader('Content-Length', '0');
      res.end();
    } catch (err) {
      if (jtiKept && claims) await forgetJti(req, config, claims.iss, claims.jti);
      const failure = toFailure(err);
      debug('refused: %s (%s)', failure.message, failure.error);
      warnRefused(failure);
      emit(
        config,
        'backchannelLogoutFailed',
        {
          error: failure.error,
          detail: failure.message,
          ...(claims?.sub && { sub: claims.sub }),
          ...(claims?.sid && { sid: claims.sid }),
        },
        req,
      );
      const body = JSON.stringify({ error: failure.error, error_description: failure.message });
      res.statusCode = 400;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      if (failure.closeConnection) res.setHeader('Connection', 'close');
      res.end(body);
    }
  };
}

/**
 * A warning through `logger` for refused logout requests: an operator must learn that the
 * provider's logouts fail (the user then stays logged in here), but a flood of bad requests must
 * not flood the log. The first is logged, then at most one a minute per provider ({@link LogLimit}).
 * The reason only, never the token.
 */
function refusalWarnings(config: ResolvedConfig): (failure: LogoutRequestError) => void {
  const limit = new LogLimit(SETUP_LOG_INTERVAL_MS);
  const provider = config.providerName === undefined ? '' : ` from provider "${config.providerName}"`;
  return (failure) => {
    const logger = config.logger;
    if (!logger) return;
    limit.log(
      (m) => logger.warn(m),
      `express-oidc-login: a back-channel logout${provider} was refused (${failure.error}): ${failure.message} ` +
        'Nobody was logged out.',
    );
  };
}

/** The issuer the logout token must name; with an Entra multi-tenant issuer, its own allowed tenant's. */
function logoutTokenIssuer(
  payload: Record<string, unknown>,
  discovered: string,
  allowed: readonly string[] | 'any' | undefined,
): string {
  try {
    return expectedIssuer(payload, discovered, allowed);
  } catch (err) {
    throw invalid('The logout token does not name an allowed tenant of the identity provider ("iss", "tid").', err);
  }
}

function toFailure(err: unknown): LogoutRequestError & { closeConnection?: boolean } {
  if (err instanceof LogoutRequestError) return err;
  if (err instanceof NoSessionStoreError) return new LogoutRequestError('server_error', err.message, { cause: err });
  if (err instanceof SessionStoreFailure) {
    return new LogoutRequestError(
      'temporarily_unavailable',
      'The session store is unavailable; nobody was logged out.',
      { cause: err },
    );
  }
  debug('unexpected error: %O', err);
  return new LogoutRequestError('temporarily_unavailable', 'The logout could not be processed.', { cause: err });
}

// ---------------------------------------------------------------------------------------------
// The request body.

/**
 * The `logout_token` of an `application/x-www-form-urlencoded` body: from `req.body` when an
 * earlier body parser consumed the stream, else read here (at most {@link MAX_BODY_BYTES}).
 */
async function readLogoutToken(req: OidcRequest): Promise<string> {
  const contentType = req.headers['content-type'];
  const mediaType = typeof contentType === 'string' ? contentType.split(';', 1)[0]!.trim().toLowerCase() : '';
  if (mediaType !== 'application/x-www-form-urlencoded') {
    throw invalid('The request must be application/x-www-form-urlencoded.');
  }
  const parsed = (req as { body?: unknown }).body;
  const consumed = req.readableEnded || (req as { _body?: unknown })._body === true;
  let params: URLSearchParams | Record<string, unknown>;
  if (consumed) {
    if (typeof parsed === 'string') params = new URLSearchParams(parsed);
    else if (Buffer.isBuffer(parsed)) params = new URLSearchParams(parsed.toString('utf8'));
    else if (typeof parsed === 'object' && parsed !== null) params = parsed as Record<string, unknown>;
    else throw invalid('The request body was read by another middleware and is not available.');
  } else {
    if (req.headers['content-encoding'] !== undefined && req.headers['content-encoding'] !== 'identity') {
      throw invalid('A compressed request body is not accepted.');
    }
    params = new URLSearchParams(await readBody(req));
  }
  let values: unknown[];
  if (params instanceof URLSearchParams) values = params.getAll('logout_token');
  else {
    const value = Object.hasOwn(params, 'logout_token') ? params.logout_token : undefined;
    values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  }
  if (values.length !== 1 || typeof values[0] !== 'string' || values[0] === '') {
    throw invalid('The request must carry exactly one "logout_token".');
  }
  return values[0];
}

function readBody(req: OidcRequest): Promise<string> {
  return readLimitedBody(req, MAX_BODY_BYTES, {
    tooLarge: () => Object.assign(invalid('The request body is too large.'), { closeConnection: true }),
    unreadable: (err) => invalid('The request body could not be read.', err),
  });
}

// ---------------------------------------------------------------------------------------------
// The logout token, before any key lookup.

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodePart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`The logout token's ${what} is not base64url-encoded JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`The logout token's ${what} is not a JSON object.`);
  return value as Record<string, unknown>;
}

/** A compact JWS: three base64url parts, a non-empty signature, JSON objects for header and claims. */
export function decodeJws(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) {
    throw invalid('The logout token is not a signed JWT (compact JWS).');
  }
  return { header: decodePart(parts[0]!, 'header'), payload: decodePart(parts[1]!, 'claims') };
}

export interface LogoutClaims {
  iss: string;
  jti: string;
  exp: number;
  iat: number;
  sid?: string;
  sub?: string;
}

export interface LogoutTokenExpectations {
  alg: string;
  issuer: string;
  clientId: string;
  additionalAudiences: readonly string[];
  /** Seconds. */
  clockTolerance: number;
  /** Seconds a token without `exp` may be old (by its `iat`); false: `exp` is required. */
  logoutTokenMaxAge: number | false;
}

function optionalId(payload: Record<string, unknown>, name: 'sid' | 'sub'): string | undefined {
  if (!Object.hasOwn(payload, name)) return undefined;
  const value = payload[name];
  if (typeof value !== 'string' || value === '' || value.length > MAX_CLAIM_LENGTH) {
    throw invalid(`The logout token's "${name}" must be a non-empty string of at most ${MAX_CLAIM_LENGTH} characters.`);
  }
  return value;
}

/**
 * Back-Channel Logout 1.0 §2.6 steps 2 to 6 (all but the signature and replay checks), on the
 * decoded token.
 */
export function checkLogoutToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  expected: LogoutTokenExpectations,
  now = Date.now(),
): LogoutClaims {
  if (header.alg !== expected.alg) throw invalid(`The logout token must be signed with ${expected.alg}.`);
  if (header.typ !== undefined) {
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    if (typ !== 'logout+jwt' && typ !== 'jwt')
      throw invalid('The logout token\'s "typ" must be "logout+jwt" or "JWT".');
  }
  if (header.crit !== undefined) throw invalid('The logout token has a "crit" header this app does not understand.');

  if (payload.iss !== expected.issuer) throw invalid('The logout token comes from another issuer ("iss").');
  const aud = payload.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (audiences.length === 0 || !audiences.every((a) => typeof a === 'string'))
    throw invalid('The logout token\'s "aud" is missing or malformed.');
  if (!audiences.includes(expected.clientId)) throw invalid('The logout token is not for this app ("aud").');
  for (const a of audiences) {
    if (a !== expected.clientId && !expected.additionalAudiences.includes(a as string)) {
      throw invalid('The logout token names an audience this app does not trust ("aud").');
    }
  }
  if (payload.azp !== undefined && payload.azp !== expected.clientId)
    throw invalid('The logout token\'s "azp" is not this app.');

  // An ID token (which carries a nonce) must never be accepted as a logout token.
  if (Object.hasOwn(payload, 'nonce')) throw invalid('The logout token must not contain a "nonce".');
  const events = payload.events;
  if (typeof events !== 'object' || events === null || Array.isArray(events)) {
    throw invalid('The logout token has no "events" object.');
  }
  const event = Object.hasOwn(events, EVENT) ? (events as Record<string, unknown>)[EVENT] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw invalid(`The logout token's "events" must have the member "${EVENT}" with an object value.`);
  }

  const nowSeconds = now / 1000;
  const { iat, jti } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('The logout token has no "iat".');
  if (iat > nowSeconds + expected.clockTolerance) throw invalid('The logout token\'s "iat" lies in the future.');
  const expires = logoutTokenExpiry(payload, iat, nowSeconds, expected);
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)
    throw invalid('The logout token has no "jti".');

  const sid = optionalId(payload, 'sid');
  const sub = optionalId(payload, 'sub');
  if (sid === undefined && sub === undefined) throw invalid('The logout token names neither a "sid" nor a "sub".');
  return {
    iss: expected.issuer,
    jti,
    exp: expires,
    iat,
    ...(sid !== undefined && { sid }),
    ...(sub !== undefined && { sub }),
  };
}

/**
 * When the token stops being accepted (and its `jti` can be forgotten): its `exp`; or, for a token
 * without one (providers implementing a draft from before `exp` was required), `iat` plus
 * `logoutTokenMaxAge` and the clock tolerance, refused once past that.
 */
function logoutTokenExpiry(
  payload: Record<string, unknown>,
  iat: number,
  nowSeconds: number,
  expected: LogoutTokenExpectations,
): number {
  const { exp } = payload;
  if (exp === undefined && expected.logoutTokenMaxAge !== false) {
    const until = iat + expected.logoutTokenMaxAge + expected.clockTolerance;
    if (until <= nowSeconds) {
      throw invalid(
        `The logout token has no "exp", and its "iat" is more than logoutTokenMaxAge (${expected.logoutTokenMaxAge} s) ago.`,
      );
    }
    return until;
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('The logout token has no "exp".');
  if (exp <= nowSeconds - expected.clockTolerance) throw invalid('The logout token has expired ("exp").');
  return exp;
}

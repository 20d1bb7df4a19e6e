import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
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
import { readLimitedBody } from '../util/body.js';
import { LogLimit } from '../util/log-limit.js';
import { SETUP_LOG_INTERVAL_MS } from '../options/defaults.js';
import {
  checkedLogoutClaims,
  invalid,
  LogoutRequestError,
  verifyLogoutSignature,
  type LogoutClaims,
} from '../flow/logout-token.js';

const debug = createDebug('express-oidc-login:backchannel-logout');

/** The largest request body read, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

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
      const checked = await checkedLogoutClaims(token, config, provider);
      // Known from here on, for the failure event too (a bad signature names whom the token claims).
      claims = checked.claims;
      await verifyLogoutSignature(token, checked.alg, provider);
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

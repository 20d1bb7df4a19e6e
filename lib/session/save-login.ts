import type { ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { StoredLogin, StoredTransaction } from '../types.js';
import { regenerateSession, saveSession, type OidcRequest } from './express-session.js';
import { indexLogin } from './session-index.js';
import { keptSessionData } from './kept-session-data.js';
import { markNewSession } from './late-write-guard.js';
import { forgetLogin, loginOf, packLogin, sameUser } from './stored-login.js';

/**
 * A finished login into a new session (a new id: no session fixation), with the app's session
 * fields that `keepSessionData` keeps and the other tabs' pending logins (`carried`), indexed for back-channel logout when `index`, and saved. A failure
 * leaves no login behind.
 */
export async function saveLogin(
  req: OidcRequest,
  res: ServerResponse,
  config: ResolvedConfig,
  login: StoredLogin,
  carried: Record<string, StoredTransaction> | undefined,
  index: boolean,
): Promise<void> {
  const previousId = req.sessionID;
  // Another user's session (a shared computer, switching accounts), or the same user at another of
  // the configured providers: none of its data is carried.
  const previous = loginOf(req);
  const kept =
    previous === undefined || (previous.provider === login.provider && sameUser(previous, login))
      ? keptSessionData(req.session, config.keepSessionData)
      : undefined;
  const fresh = await regenerateSession(req);
  if (kept) Object.assign(fresh, kept);
  // Its saves by this request (ours, then express-session's at the end of the response) need no
  // tombstone read when nothing can name the new id yet: not indexed, and its cookie not sent.
  if (!index) res.once('close', markNewSession(req.sessionStore, fresh, req.sessionID!));
  // A login the old session held (a step-up, a second login) is not kept for reuse.
  forgetLogin(req, previousId);
  const stored = packLogin(login, req);
  fresh.oidc = carried ? { login: stored, tx: carried } : { login: stored };
  try {
    // Indexed first: a login that back-channel logout could not find is not stored at all.
    if (index) await indexLogin(req, config);
    await saveSession(fresh);
  } catch (err) {
    // The login failed: express-session's own save at the end of the response must not
    // store it after all.
    delete fresh.oidc.login;
    forgetLogin(req, req.sessionID);
    throw err;
  }
}

import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import { MAX_PENDING_LOGIN_COOKIE_BYTES, MAX_PENDING_LOGINS } from '../options/defaults.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { appendSetCookie, readCookies, serializeCookie } from '../util/cookies.js';
import { OidcError } from '../util/errors.js';
import type { OpenFailure, Sealer } from '../util/seal.js';
import type { OidcRequest } from '../session/express-session.js';
import type { StoredTransaction } from '../types.js';
import { isWellFormedState, pendingLoginLifetimeMs, type PendingLogins } from './pending-logins.js';

const debug = createDebug('express-oidc-login:pending-logins');

/** `oidc.tx.<the state's first 8 characters>`: one cookie per pending login (several tabs at once). */
export const TX_COOKIE_PREFIX = 'oidc.tx.';
const NAME_CHARS = 8;
/**
 * The list of this browser's pending-login cookies, sent to the login route only (`Path` = the
 * login path): the tx cookies are sent to the callback only, so `/login` could not count them
 * otherwise. `<id>:<bytes>` entries, oldest first, joined by `.`.
 */
export const DIRECTORY_COOKIE = 'oidc.pending';
/** The tx cookies of one browser stay under this many bytes together (in the callback's Cookie header). */
export const TX_COOKIES_BUDGET = 6 * 1024;
/** States consumed in this process, remembered at most. */
const MAX_CONSUMED = 10_000;
const DIRECTORY_ENTRY = /^([A-Za-z0-9_-]{8}):(\d{1,5})$/;

export function txCookieName(state: string): string {
  return TX_COOKIE_PREFIX + state.slice(0, NAME_CHARS);
}

function invalidTransaction(failure: OpenFailure): OidcError {
  return new OidcError(
    'ERR_OIDC_TRANSACTION_INVALID',
    400,
    'This login cannot be completed: its cookie could not be read. Start again from the login page. ' +
      (failure === 'unknown-key'
        ? 'It was sealed with a key this app does not have: every instance needs the same "secret", ' +
          'and a secret rotated out must stay in the list for transactionMaxAge.'
        : 'It was changed, or made for another cookie or another app.'),
  );
}

/** The fields every transaction has (a nonce unless plain OAuth 2.0); others (step-up, silent, a provider's name...) pass through. */
function parsePayload(json: string): { state: string; tx: StoredTransaction } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { state, ...tx } = value as Record<string, unknown>;
  if (
    typeof state !== 'string' ||
    (tx.nonce !== undefined && typeof tx.nonce !== 'string') ||
    typeof tx.verifier !== 'string' ||
    typeof tx.returnTo !== 'string' ||
    typeof tx.createdAt !== 'number'
  ) {
    return undefined;
  }
  return { state, tx: tx as unknown as StoredTransaction };
}

/**
 * Pending logins in cookies sealed with AES-256-GCM (lib/util/seal.ts): `HttpOnly`, `SameSite=Lax`,
 * `Secure` on an https `baseUrl`, `Path` = the callback, `Max-Age` = `transactionMaxAge` + 1 min. The
 * sealed payload carries the full `state` (compared exactly) and `createdAt` (checked on open);
 * the associated data binds the cookie's name and the redirect URI. The login route writes no
 * session. Taken cookies are cleared, and their states remembered in this process until they
 * expire, so a replayed callback makes no second token request here (on other instances, the
 * provider's single-use code refuses it).
 */
export class CookiePendingLogins implements PendingLogins {
  readonly mode = 'cookie';
  readonly #config: ResolvedConfig;
  readonly #sealer: Sealer;
  readonly #callbackPath: string;
  readonly #loginPath: string;
  readonly #secure: boolean;
  readonly #maxAge: number;
  /** States taken in this process: their expiry, oldest first. */
  readonly #consumed = new Map<string, number>();

  constructor(config: ResolvedConfig, sealer: Sealer) {
    this.#config = config;
    this.#sealer = sealer;
    this.#callbackPath = config.redirectPath;
    this.#loginPath = config.loginUrlPath;
    this.#secure = config.secureCookies;
    this.#maxAge = Math.ceil(pendingLoginLifetimeMs(config) / 1000);
  }

  #context(name: string): string {
    return `${name} ${this.#config.redirectUri}`;
  }

  async add(req: OidcRequest, res: ServerResponse, state: string, tx: StoredTransaction): Promise<void> {
    const name = txCookieName(state);
    const id = name.slice(TX_COOKIE_PREFIX.length);
    const listed = readDirectory(req).filter((e) => e.id !== id);
    const value = this.#sealWithinRoom(name, state, tx, listed);
    const bytes = cookieBytes(name, value);
    const lines: string[] = [];
    // The cap: at most maxPendingLogins cookies, and at most TX_COOKIES_BUDGET bytes of them, so
    // that a page sending a browser to /login again and again cannot grow the callback's Cookie
    // header past what servers and proxies accept. The oldest go first.
    for (const dropped of listed.splice(0, this.#evictions(listed, bytes)))
      lines.push(this.#clear(TX_COOKIE_PREFIX + dropped.id));
    listed.push({ id, bytes });
    lines.push(
      serializeCookie(name, value, { path: this.#callbackPath, maxAge: this.#maxAge, secure: this.#secure }),
      serializeCookie(DIRECTORY_COOKIE, listed.map((e) => `${e.id}:${e.bytes}`).join('.'), {
        path: this.#loginPath,
        maxAge: this.#maxAge,
        secure: this.#secure,
      }),
    );
    appendSetCookie(res, lines);
  }

  /**
   * The pending login sealed for its cookie, with the default `returnTo` in place of its own when
   * that one would make the cookie pass {@link MAX_PENDING_LOGIN_COOKIE_BYTES} (browsers drop such
   * a cookie) or push another tab's pending login out: a long `returnTo` (a cross-site link can
   * choose it) never costs another login its place.
   */
  #sealWithinRoom(name: string, state: string, tx: StoredTransaction, listed: readonly DirectoryEntry[]): string {
    const value = this.#seal(name, state, tx);
    if (tx.returnTo === this.#config.defaultReturnTo) return value;
    const bytes = cookieBytes(name, value);
    const evictions = bytes <= MAX_PENDING_LOGIN_COOKIE_BYTES ? this.#evictions(listed, bytes) : Infinity;
    // Fits, and costs no other login its place: the usual case, sealed once.
    if (evictions === 0) return value;
    const fallback = this.#seal(name, state, { ...tx, returnTo: this.#config.defaultReturnTo });
    if (evictions <= this.#evictions(listed, cookieBytes(name, fallback))) return value;
    debug('returnTo too long for the pending-login cookie: the login returns to defaultReturnTo');
    return fallback;
  }

  #seal(name: string, state: string, tx: StoredTransaction): string {
    return this.#sealer.seal(this.#context(name), JSON.stringify({ state, ...tx }));
  }

  /** How many of the oldest `listed` cookies must go for one more of `bytes` (count cap and byte budget). */
  #evictions(listed: readonly DirectoryEntry[], bytes: number): number {
    let total = listed.reduce((n, e) => n + e.bytes, 0);
    let dropped = 0;
    while (
      dropped < listed.length &&
      (listed.length - dropped >= this.#config.maxPendingLogins || total + bytes > TX_COOKIES_BUDGET)
    ) {
      total -= listed[dropped]!.bytes;
      dropped++;
    }
    return dropped;
  }

  #clear(name: string): string {
    return serializeCookie(name, '', { path: this.#callbackPath, maxAge: 0, secure: this.#secure });
  }

  has(req: OidcRequest, state: string): boolean {
    if (!isWellFormedState(state)) return false;
    const name = txCookieName(state);
    return readCookies(req, (n) => n === name).length > 0;
  }

  async take(req: OidcRequest, res: ServerResponse, state: string): Promise<StoredTransaction | undefined> {
    if (!isWellFormedState(state)) return undefined;
    const name = txCookieName(state);
    const values = readCookies(req, (n) => n === name);
    if (values.length === 0) return undefined;
    // Cleared whatever happens next: used, expired, refused or not ours.
    appendSetCookie(res, [this.#clear(name)]);
    const now = Date.now();
    if (this.#isConsumed(state, now)) return undefined;
    let failure: OpenFailure | undefined;
    // Several cookies of one name (another path or domain) are each tried: only ours opens.
    for (const [, value] of values) {
      const opened = this.#sealer.open(this.#context(name), value);
      if ('failure' in opened) {
        failure = opened.failure;
        continue;
      }
      const payload = parsePayload(opened.plaintext);
      if (!payload) {
        failure = 'malformed';
        continue;
      }
      // Another login whose state begins with the same 8 characters is not this one.
      if (payload.state !== state) continue;
      this.#consume(state, now);
      return payload.tx;
    }
    if (failure) throw invalidTransaction(failure);
    return undefined;
  }

  carryOver(): undefined {
    // Other tabs' pending logins are in their own cookies, untouched by this login.
    return undefined;
  }

  #isConsumed(state: string, now: number): boolean {
    const until = this.#consumed.get(state);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#consumed.delete(state);
    return false;
  }

  #consume(state: string, now: number): void {
    this.#consumed.set(state, now + this.#config.transactionMaxAge + this.#config.clockTolerance * 1000);
    // Oldest first: drop the expired ones, and the oldest beyond the cap.
    for (const [s, until] of this.#consumed) {
      if (until > now && this.#consumed.size <= MAX_CONSUMED) break;
      this.#consumed.delete(s);
    }
  }
}

interface DirectoryEntry {
  id: string;
  bytes: number;
}

/** A cookie's size in the callback's `Cookie` header: `name=value; `. */
function cookieBytes(name: string, value: string): number {
  return name.length + value.length + 3;
}

/** The directory cookie's entries, oldest first; anything malformed is ignored. */
function readDirectory(req: OidcRequest): DirectoryEntry[] {
  const cookies = readCookies(req, (n) => n === DIRECTORY_COOKIE);
  const value = cookies[0]?.[1];
  if (!value) return [];
  const entries: DirectoryEntry[] = [];
  // No more entries than maxPendingLogins allows at most: more were not written by us.
  for (const part of value.split('.', MAX_PENDING_LOGINS)) {
    const m = DIRECTORY_ENTRY.exec(part);
    if (m && !entries.some((e) => e.id === m[1])) entries.push({ id: m[1]!, bytes: Number(m[2]) });
  }
  return entries;
}

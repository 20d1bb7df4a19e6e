import createDebug from 'debug';
import type { MappedProfile, ProfileApi, ProfileMapper } from '../options/hook-types.js';
import type { OidcLoginOptions } from '../options/types.js';
import { fail } from '../options/fail.js';

const debug = createDebug('express-oidc-login:presets');

/**
 * Ready-made provider settings: `oidcLogin({ ...github({ clientId, clientSecret }), baseUrl })`.
 * They are ordinary options (nothing hidden), so anything can be overridden after the spread.
 */
export type ProviderPreset = Omit<OidcLoginOptions, 'baseUrl'>;

/** Options of {@link github}. */
export interface GitHubOptions {
  /** The OAuth app's (or GitHub App's) client id. */
  clientId: string;
  clientSecret: string;
  /**
   * Space-separated GitHub scopes. Default `read:user user:email`. With `user:email` (or `user`) the
   * primary verified email address is read from `/user/emails`.
   */
  scope?: string;
  /** GitHub Enterprise Server: its URL, e.g. `https://github.example.com` (the API is at `/api/v3`). Default github.com. */
  enterpriseUrl?: string;
}

/** Options of {@link google}. */
export interface GoogleOptions {
  clientId: string;
  clientSecret: string;
  /** Default `openid profile email`. */
  scope?: string;
  /**
   * Ask for a refresh token: `access_type=offline` and `prompt=consent` (Google issues a refresh
   * token only with both, and knows no `offline_access` scope). Default false.
   */
  offline?: boolean;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** GitHub's user id: a positive integer (the `login` can be renamed, and then taken by someone else). */
function githubId(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
  if (typeof value === 'string' && /^[1-9]\d{0,19}$/.test(value)) return value;
  return '';
}

interface GitHubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

/** The primary address, when GitHub has verified it. */
async function primaryEmail(api: ProfileApi, url: string): Promise<string | undefined> {
  let emails: unknown;
  try {
    emails = await api.get(url);
  } catch (err) {
    // Best effort: a GitHub App without the "Email addresses" permission answers 403/404, and an
    // address is no reason to refuse a login the profile itself identifies.
    debug('GitHub /user/emails failed, using the public address: %s', (err as Error)?.message);
    return undefined;
  }
  if (!Array.isArray(emails)) return undefined;
  const primary = (emails as GitHubEmail[]).find(
    (e) => typeof e === 'object' && e !== null && e.primary === true && e.verified === true,
  );
  return text(primary?.email);
}

/**
 * Whether the token may read `/user/emails`: by the scope GitHub granted (comma-separated), else
 * by the one asked for. A GitHub App's tokens carry an empty scope (permissions instead): tried.
 */
function readsEmails(granted: string | undefined, requested: string): boolean {
  const scopes = (granted !== undefined && granted !== '' ? granted : requested).split(/[ ,]+/);
  return granted === '' || scopes.includes('user:email') || scopes.includes('user');
}

/** GitHub's `/user` as OpenID-style claims. */
function githubProfile(api: string, requestedScope: string): ProfileMapper {
  return async (user, tokens, provider) => {
    const claims: MappedProfile = { sub: githubId(user.id) };
    const name = text(user.name);
    const login = text(user.login);
    const picture = text(user.avatar_url);
    const profile = text(user.html_url);
    if (name !== undefined) claims.name = name;
    if (login !== undefined) claims.preferred_username = login;
    if (picture !== undefined) claims.picture = picture;
    if (profile !== undefined) claims.profile = profile;
    const verified = readsEmails(tokens.scope, requestedScope)
      ? await primaryEmail(provider, `${api}/user/emails`)
      : undefined;
    if (verified !== undefined) {
      claims.email = verified;
      claims.email_verified = true;
    } else {
      // The public address, which GitHub does not say it verified.
      const email = text(user.email);
      if (email !== undefined) claims.email = email;
    }
    return claims;
  };
}

/**
 * GitHub (an OAuth 2.0 provider without OpenID Connect): the authorization code flow with PKCE and
 * `state`, the user read from `https://api.github.com/user`. Claims: `sub` (the numeric user id, as
 * a string), `name`, `preferred_username` (the login), `picture` (the avatar), `profile` (the
 * profile page), and `email` (the primary verified address with `email_verified: true` when the
 * scope allows reading it, else the public one, if any).
 *
 * @example
 * app.use(oidcLogin({ ...github({ clientId, clientSecret }), baseUrl: 'https://app.example.com' }));
 * @see https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 */
export function github(options: GitHubOptions): ProviderPreset {
  if (typeof options !== 'object' || options === null) fail('github() needs { clientId, clientSecret }.');
  let web = 'https://github.com';
  let api = 'https://api.github.com';
  if (options.enterpriseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.enterpriseUrl);
    } catch {
      fail(
        `github({ enterpriseUrl }) must be an absolute URL such as https://github.example.com; got ` +
          `${JSON.stringify(options.enterpriseUrl)}.`,
      );
    }
    web = url.origin;
    api = `${url.origin}/api/v3`;
  }
  const scope = options.scope ?? 'read:user user:email';
  return {
    server: {
      issuer: web,
      authorizationEndpoint: `${web}/login/oauth/authorize`,
      tokenEndpoint: `${web}/login/oauth/access_token`,
      userinfoEndpoint: `${api}/user`,
    },
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    // GitHub documents the secret in the form body.
    clientAuthMethod: 'client_secret_post',
    scope,
    profile: githubProfile(api, typeof scope === 'string' ? scope : ''),
  };
}

/**
 * Google (an OpenID provider): discovery at `https://accounts.google.com`. It has no
 * `end_session_endpoint` (logout is local, and the refresh token is revoked at its
 * `revocation_endpoint`), and issues refresh tokens only with `offline: true`.
 *
 * @example
 * app.use(oidcLogin({ ...google({ clientId, clientSecret, offline: true }), baseUrl: 'https://app.example.com' }));
 * @see https://developers.google.com/identity/openid-connect/openid-connect
 */
export function google(options: GoogleOptions): ProviderPreset {
  if (typeof options !== 'object' || options === null) fail('google() needs { clientId, clientSecret }.');
  return {
    issuer: 'https://accounts.google.com',
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    scope: options.scope ?? 'openid profile email',
    ...(options.offline === true && { authorizationParams: { access_type: 'offline', prompt: 'consent' } }),
  };
}

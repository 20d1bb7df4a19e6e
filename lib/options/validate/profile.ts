import { fail } from '../fail.js';
import type { MappedProfile, ProfileMapper } from '../hook-types.js';
import type { ResolvedConfig } from '../resolved-config.js';

/** `profile` and `profileApiOrigins`: how a plain OAuth 2.0 login gets its claims. Refused with OpenID Connect. */
export function resolveProfile(
  o: Record<string, unknown>,
  openid: boolean,
  allowInsecureHttp: boolean,
): Pick<ResolvedConfig, 'profile' | 'profileApiOrigins'> {
  if (o.profile !== undefined) {
    if (typeof o.profile !== 'function')
      fail('"profile" must be a function (userinfo, tokens, api) => ({ sub, ...claims }).');
    if (openid) {
      fail(
        '"profile" maps the userinfo of a plain OAuth 2.0 login (no "openid" in "scope"); an OpenID Connect login takes its ' +
          'claims from the ID token: change them in "afterCallback".',
      );
    }
  }
  return {
    profile: (o.profile as ProfileMapper | undefined) ?? identityProfile,
    profileApiOrigins: resolveProfileApiOrigins(o.profileApiOrigins, openid, allowInsecureHttp),
  };
}

/** The default `profile`: the userinfo response as it is (it must have a `sub`). */
const identityProfile: ProfileMapper = (userinfo) => userinfo as MappedProfile;

/** `profileApiOrigins`: plain OAuth 2.0 only; https origins (http with the loud switch), normalized. */
function resolveProfileApiOrigins(value: unknown, openid: boolean, allowInsecureHttp: boolean): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (openid) {
    fail(
      '"profileApiOrigins" is for "profile"\'s api.get() in a plain OAuth 2.0 login (no "openid" in "scope"): remove it.',
    );
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail('"profileApiOrigins" must be an array of origins, such as ["https://api.example.com"].');
  }
  const origins = (value as string[]).map((v) => {
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || url.origin === 'null' || url.href !== `${url.origin}/`) {
      fail(
        `"profileApiOrigins" must list origins (scheme, host and port, such as "https://api.example.com"), not ${JSON.stringify(v)}.`,
      );
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowInsecureHttp)) {
      fail(`"profileApiOrigins" must use https (the access token is sent there): ${JSON.stringify(v)}.`);
    }
    return url.origin;
  });
  return Object.freeze([...new Set(origins)]);
}

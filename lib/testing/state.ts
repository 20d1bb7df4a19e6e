import { SignJWT, type generateKeyPair, type JWTPayload } from 'jose';
import { nowSeconds, random } from './checks.js';
import type { DPoPVerifier } from './dpop.js';
import type { TestLoginRecord, TestLogoutRecord, TestProviderCounts, TestUser } from './types.js';

/* One test provider's settings and memory (codes, grants, tokens), and the tokens it issues. */

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export interface LoginRequest {
  user: TestUser;
  expiresIn: number | undefined;
}

export interface Grant {
  readonly user: TestUser;
  readonly sid: string;
  readonly authTime: number;
  readonly scope: string;
  /** Refresh tokens no longer work. */
  revoked: boolean;
  readonly accessTokens: Set<string>;
  /** The thumbprint of the DPoP key of the code exchange: every refresh must prove it. */
  readonly jkt: string | undefined;
}

export interface CodeRecord {
  readonly state: string | null;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly nonce: string | null;
  readonly scope: string;
  readonly login: LoginRequest;
  readonly sid: string;
  readonly authTime: number;
  readonly expiresAt: number;
}

/** What `startTestProvider` settled from its options, its key and its address. */
export interface ProviderSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: KeyPair['privateKey'];
  readonly publicKey: KeyPair['publicKey'];
  readonly accessTokenTtl: number;
  readonly idTokenTtl: number;
  readonly refreshPolicy: 'offline_access' | 'always' | 'never';
  readonly idTokenOnRefresh: boolean;
  readonly dpop: DPoPVerifier;
  readonly defaultUser: TestUser | null;
  readonly redirectUris: string[];
  readonly postLogoutRedirectUris: string[];
  readonly tokenEndpoint: string;
  readonly userinfoEndpoint: string;
  readonly frontchannelLogoutUri: string | undefined;
  readonly frontchannelLogoutParams: 'iss-and-sid' | 'sid' | 'none';
  readonly resources: readonly string[];
}

/** Everything is in memory and per provider. */
export interface ProviderState extends ProviderSettings {
  readonly loginsByState: Map<string, LoginRequest>;
  readonly queued: LoginRequest[];
  readonly codes: Map<string, CodeRecord>;
  /** Redeemed codes and the grant each started: a code used twice revokes what it gave (RFC 6749 4.1.2). */
  readonly usedCodes: Map<string, Grant>;
  readonly redeemedStates: Set<string>;
  /** `jkt`: the thumbprint of the DPoP key the token is bound to (RFC 9449 §6), for a DPoP token. */
  readonly accessTokens: Map<
    string,
    { grant: Grant; expiresAt: number; revoked: boolean; jkt: string | undefined; resource?: string }
  >;
  readonly refreshTokens: Map<string, { grant: Grant; rotated: boolean }>;
  readonly grants: Set<Grant>;
  readonly logins: TestLoginRecord[];
  readonly logouts: TestLogoutRecord[];
  readonly counts: { -readonly [K in keyof TestProviderCounts]: number };
  nextAuthorizationFailure: { error: string; description: string | undefined } | undefined;
  nextTokenFailure: { status: number | 'disconnect'; error: string | undefined } | undefined;
}

export function createState(settings: ProviderSettings): ProviderState {
  return {
    ...settings,
    loginsByState: new Map(),
    queued: [],
    codes: new Map(),
    usedCodes: new Map(),
    redeemedStates: new Set(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    grants: new Set(),
    logins: [],
    logouts: [],
    counts: {
      discovery: 0,
      jwks: 0,
      authorize: 0,
      token: 0,
      refresh: 0,
      userinfo: 0,
      revocation: 0,
      endSession: 0,
    },
    nextAuthorizationFailure: undefined,
    nextTokenFailure: undefined,
  };
}

export function signIdToken(
  s: ProviderState,
  grant: Pick<Grant, 'user' | 'sid' | 'authTime'>,
  nonce: string | null,
): Promise<string> {
  const { sub, ...rest } = grant.user;
  delete rest.sid;
  delete rest.auth_time;
  const iat = nowSeconds();
  const payload: JWTPayload = {
    ...rest,
    iss: s.issuer,
    sub,
    aud: s.clientId,
    iat,
    exp: iat + s.idTokenTtl,
    auth_time: grant.authTime,
    sid: grant.sid,
    ...(nonce !== null && { nonce }),
  };
  return new SignJWT(payload).setProtectedHeader({ alg: s.alg, kid: s.kid, typ: 'JWT' }).sign(s.privateKey);
}

export function issueAccessToken(
  s: ProviderState,
  grant: Grant,
  expiresIn: number,
  jkt: string | undefined,
  resource?: string,
): string {
  const token = random();
  s.accessTokens.set(token, {
    grant,
    expiresAt: nowSeconds() + expiresIn,
    revoked: false,
    jkt,
    ...(resource !== undefined && { resource }),
  });
  grant.accessTokens.add(token);
  return token;
}

export function issueRefreshToken(s: ProviderState, grant: Grant): string | undefined {
  if (s.refreshPolicy === 'never') return undefined;
  if (s.refreshPolicy === 'offline_access' && !grant.scope.split(' ').includes('offline_access')) return undefined;
  const token = random();
  s.refreshTokens.set(token, { grant, rotated: false });
  return token;
}

export function revokeGrant(s: ProviderState, grant: Grant): void {
  grant.revoked = true;
  for (const token of grant.accessTokens) {
    const entry = s.accessTokens.get(token);
    if (entry) entry.revoked = true;
  }
}

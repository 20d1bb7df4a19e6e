import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort } from './net.js';

/**
 * Glewlwyd (Debian's `glewlwyd` package, a C OpenID Provider on SQLite) as a third-party provider
 * for the tests: one server per call, on a free loopback port, in a temporary directory with its own
 * config, SQLite database and copy of the login web app; nothing of the system service is used.
 *
 * It is configured as an administrator would: the database is created from the package's SQL
 * script, then everything else goes through Glewlwyd's admin API (the OpenID Connect plugin with an
 * RSA key, scopes, a user, the clients).
 */
export const GLEWLWYD = process.env.GLEWLWYD_PATH ?? '/usr/bin/glewlwyd';
const SQLITE3 = process.env.SQLITE3_PATH ?? '/usr/bin/sqlite3';
const WEBAPP = '/usr/share/glewlwyd/webapp';
const WEBAPP_CONFIG = '/usr/share/glewlwyd/templates/config.json';
const INIT_SQL = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const MODULES = '/usr/lib/glewlwyd';

const missing = [GLEWLWYD, SQLITE3, WEBAPP, WEBAPP_CONFIG, INIT_SQL].filter((p) => !existsSync(p));
/** Why the Glewlwyd tests cannot run here, or undefined when they can. */
export const glewlwydMissing =
  missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install glewlwyd sqlite3)` : undefined;

/** The administrator created by the package's SQL script. */
const ADMIN = { username: 'admin', password: 'password' };

export interface GlewlwydClient {
  clientId: string;
  clientSecret: string;
  /** The app's origin: redirect, post-logout and back-channel logout URIs are derived from it. */
  baseUrl: string;
}

export interface GlewlwydUser {
  username: string;
  password: string;
  name: string;
  email: string;
}

export interface TestGlewlwyd {
  /** The OpenID Provider's issuer (discovery at issuer + '/.well-known/openid-configuration'). */
  issuer: string;
  /** Where the server listens, e.g. http://127.0.0.1:PORT. */
  origin: string;
  /** `glewlwyd --version`'s version, e.g. 2.7.5. */
  version: string;
  /** The server's log so far (for failure messages and for checks on what it sent). */
  log(): string;
  /** Resolves when the log contains `text`; rejects with the log after 10 s. */
  waitForLog(text: string): Promise<void>;
  close(): Promise<void>;
}

/** The parts of the OpenID Connect plugin's parameters this setup decides; the rest are Glewlwyd's defaults. */
function oidcPluginParameters(issuer: string): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256' };
  return {
    iss: issuer,
    'jwt-type': 'rsa',
    'jwt-key-size': '256',
    'jwks-private': JSON.stringify({ keys: [key] }),
    'default-kid': 'test-key',
    'jwks-show': true,
    'access-token-duration': 3600,
    'refresh-token-duration': 1209600,
    'code-duration': 600,
    'refresh-token-rolling': true,
    'refresh-token-one-use': 'never',
    'allow-non-oidc': false,
    'auth-type-code-enabled': true,
    'auth-type-token-enabled': false,
    'auth-type-id-token-enabled': true,
    'auth-type-none-enabled': false,
    'auth-type-password-enabled': false,
    'auth-type-client-enabled': false,
    'auth-type-device-enabled': false,
    'auth-type-refresh-enabled': true,
    'secret-type': 'public',
    scope: [],
    'additional-parameters': [],
    claims: [],
    'address-claim': { type: 'no' },
    // Glewlwyd's name and email claims are off by default; "mandatory" puts them in the ID token.
    'name-claim': 'mandatory',
    'name-claim-scope': [],
    'email-claim': 'mandatory',
    'email-claim-scope': [],
    'scope-claim': 'no',
    'scope-claim-scope': [],
    'allowed-scope': ['openid', 'profile', 'email', 'offline_access'],
    'pkce-allowed': true,
    'pkce-method-plain-allowed': false,
    'request-parameter-allow': false,
    'client-jwks-parameter': 'jwks',
    'client-jwks_uri-parameter': 'jwks_uri',
    // The end_session endpoint, `sid` in ID tokens, and the logout notifications to clients.
    'session-management-allowed': true,
    'session-cookie-name': 'GLEWLWYD2_OIDC_SID',
    'session-cookie-expiration': 3600,
    'front-channel-logout-allowed': true,
    'back-channel-logout-allowed': true,
  };
}

function config(dir: string, port: number): string {
  // libconfig syntax. The secure_connection_* files must be named even when TLS is off: 2.7.5
  // refuses to start otherwise ("secure connection is active but certificate is not valid").
  return `port=${port}
bind_address="127.0.0.1"
external_url="http://127.0.0.1:${port}"
login_url="login.html"
api_prefix="api"
static_files_path="${dir}/webapp/"
allow_origin="*"
log_mode="file"
log_level="DEBUG"
log_file="${dir}/glewlwyd.log"
cookie_secure=0
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${MODULES}/user"
client_module_path="${MODULES}/client"
user_auth_scheme_module_path="${MODULES}/scheme"
plugin_module_path="${MODULES}/plugin"
use_secure_connection=false
secure_connection_key_file="${dir}/none.key"
secure_connection_pem_file="${dir}/none.pem"
hash_algorithm="SHA512"
database = { type = "sqlite3" path = "${dir}/glewlwyd.db" };
static_files_mime_types = (
  { extension = ".html" mime_type = "text/html" },
  { extension = ".css" mime_type = "text/css" },
  { extension = ".js" mime_type = "application/javascript" },
  { extension = ".json" mime_type = "application/json" },
  { extension = ".png" mime_type = "image/png" },
  { extension = ".ico" mime_type = "image/x-icon" },
  { extension = ".woff2" mime_type = "font/woff2" },
  { extension = ".woff" mime_type = "font/woff" },
  { extension = ".ttf" mime_type = "font/ttf" }
);
`;
}

/** A cookie-keeping JSON client of Glewlwyd's API, logged in as the administrator. */
async function adminApi(origin: string): Promise<(method: string, path: string, body?: unknown) => Promise<unknown>> {
  let cookie = '';
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${origin}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(cookie && { cookie }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Glewlwyd admin API ${method} ${path}: ${res.status} ${text}`);
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) cookie = setCookie.split(';')[0]!;
    return text ? JSON.parse(text) : undefined;
  };
  await call('POST', '/auth/', ADMIN);
  return call;
}

async function waitUntilUp(origin: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`glewlwyd exited with ${server.exitCode}:\n${log()}`);
    if (Date.now() > deadline) throw new Error(`glewlwyd did not start:\n${log()}`);
    const up = await fetch(`${origin}/config`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startGlewlwyd(options: { user: GlewlwydUser; clients: GlewlwydClient[] }): Promise<TestGlewlwyd> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}/api/oidc`;
  const dir = mkdtempSync(join(tmpdir(), 'oidc-glewlwyd-'));
  const logFile = join(dir, 'glewlwyd.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  // The login web app is copied (Glewlwyd's static file server does not follow symlinks) with the
  // package's template config.json: in the package, webapp/config.json is a symlink to a directory.
  cpSync(WEBAPP, join(dir, 'webapp'), {
    recursive: true,
    dereference: true,
    filter: (src) => src !== join(WEBAPP, 'config.json'),
  });
  cpSync(WEBAPP_CONFIG, join(dir, 'webapp', 'config.json'));
  execFileSync(SQLITE3, [join(dir, 'glewlwyd.db')], { input: gunzipSync(readFileSync(INIT_SQL)) });
  writeFileSync(join(dir, 'glewlwyd.conf'), config(dir, port));

  const version = execFileSync(GLEWLWYD, ['--version']).toString().trim();
  const server = spawn(GLEWLWYD, ['-c', join(dir, 'glewlwyd.conf')], { stdio: 'ignore' });
  const close = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitUntilUp(origin, server, log);
    const api = await adminApi(origin);
    await api('POST', '/mod/plugin/', {
      module: 'oidc',
      name: 'oidc',
      display_name: 'OpenID Connect',
      parameters: oidcPluginParameters(issuer),
    });
    // The package's client database module stores `post_logout_redirect_uri` (one value), but the
    // OpenID Connect plugin checks `post_logout_redirect_uris`: without this, every
    // post_logout_redirect_uri is refused ("Invalid post_logout_redirect_uris") and the browser
    // stays on Glewlwyd's page after logout.
    const clientModule = (await api('GET', '/mod/client/database')) as {
      parameters: { 'data-format': Record<string, unknown> };
      enabled?: boolean;
    };
    clientModule.parameters['data-format']['post_logout_redirect_uris'] = { multiple: true, read: true, write: true };
    delete clientModule.enabled;
    await api('PUT', '/mod/client/database', clientModule);
    await api('PUT', '/mod/client/database/reset');

    // The password is asked for every scope the app requests (Glewlwyd's openid scope needs none
    // by default, which would log in anyone who knows a username).
    const scope = (name: string) => ({
      name,
      display_name: name,
      description: name,
      password_required: true,
      password_max_age: 0,
      scheme: {},
    });
    await api('PUT', '/scope/openid', scope('openid'));
    for (const name of ['profile', 'email', 'offline_access']) await api('POST', '/scope/', scope(name));
    const { user } = options;
    await api('POST', '/user/', {
      username: user.username,
      password: user.password,
      name: user.name,
      email: user.email,
      scope: ['openid', 'profile', 'email', 'offline_access'],
      enabled: true,
    });
    for (const client of options.clients) {
      await api('POST', '/client/', {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        name: client.clientId,
        confidential: true,
        enabled: true,
        scope: [],
        redirect_uri: [`${client.baseUrl}/callback`],
        authorization_type: ['code', 'refresh_token'],
        token_endpoint_auth_method: ['client_secret_basic'],
        post_logout_redirect_uris: [`${client.baseUrl}/`],
        backchannel_logout_uri: `${client.baseUrl}/backchannel-logout`,
        backchannel_logout_session_required: 'yes',
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  const waitForLog = async (text: string) => {
    const deadline = Date.now() + 10_000;
    while (!log().includes(text)) {
      if (Date.now() > deadline) throw new Error(`Glewlwyd's log has no "${text}":\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { issuer, origin, version, log, waitForLog, close };
}

import { describe, expect, it } from '@jest/globals';
import { safeReturnTo } from '../lib/util/url.js';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { useProvider } from './support/use-provider.js';

/** Values an attacker would put in ?returnTo= to make the login an open redirect. */
const HOSTILE: [string, unknown][] = [
  ['protocol-relative', '//evil.example'],
  ['protocol-relative with path', '//evil.example/x'],
  ['triple slash', '///evil.example'],
  ['backslash after slash', '/\\evil.example'],
  ['double backslash', '\\\\evil.example'],
  ['backslash only', '\\evil.example'],
  ['absolute https', 'https://evil.example'],
  ['absolute http', 'http://evil.example/path'],
  ['scheme without slashes', 'http:evil.example'],
  ['javascript:', 'javascript:alert(1)'],
  ['data:', 'data:text/html,<script>alert(1)</script>'],
  ['encoded slashes', '%2F%2Fevil.example'],
  ['encoded slashes after slash', '/%2F%2Fevil.example'],
  ['double-encoded slashes after slash', '/%252F%252Fevil.example'],
  ['encoded backslash', '%5Cevil.example'],
  ['encoded backslash after slash', '/%5Cevil.example'],
  ['tab between slashes', '/\t/evil.example'],
  ['newline between slashes', '/\n/evil.example'],
  ['carriage return', '/\r/evil.example'],
  ['encoded tab between slashes', '/%09/evil.example'],
  ['NUL byte', '/\u0000/evil.example'],
  ['relative without slash', 'evil.example'],
  ['dot segments to protocol-relative', '/./\\evil.example'],
  // Normalised first, then checked (dot segments made '/%2F%2Fevil' of these before).
  ['dot segment before encoded slashes', '/./%2F%2Fevil.com'],
  ['encoded dot segment before encoded slashes', '/%2e/%2F%2Fevil.com'],
  ['parent segment before encoded slashes', '/a/../%2F%2Fevil.com'],
  ['encoded parent segment before encoded slashes', '/a/%2e%2e/%2F%2Fevil.com'],
  ['double-encoded parent segment before double-encoded slashes', '/a/%252e%252e/%252F%252Fevil.com'],
  ['parent segment before encoded backslash', '/a/../%5Cevil.com'],
  ['encoded more layers deep than any proxy decodes', '/%25252525252F'],
  ['over-long once normalised (each < becomes %3C)', `/${'<'.repeat(700)}`],
  ['empty', ''],
  ['very long', `/${'a'.repeat(5000)}`],
  ['malformed percent-encoding', '/%E0%A4%A'],
  ['array', ['/a', '/b']],
  ['object', { href: '/a' }],
  ['number', 42],
  ['undefined', undefined],
];

const SAFE: [string, string][] = [
  ['/', '/'],
  ['/profile', '/profile'],
  ['/a/b?x=1&y=2', '/a/b?x=1&y=2'],
  ['/search?q=%2F%2Fnot-a-host', '/search?q=%2F%2Fnot-a-host'],
  ['/page#section', '/page#section'],
  ['/a/../b', '/b'],
  ['/a b', '/a%20b'],
  [`/${'<'.repeat(600)}`, `/${'%3C'.repeat(600)}`],
];

describe('safeReturnTo', () => {
  it.each(HOSTILE)('refuses %s', (_name, value) => {
    expect(safeReturnTo(value)).toBeUndefined();
  });

  it.each(SAFE)('keeps %s', (value, expected) => {
    expect(safeReturnTo(value)).toBe(expected);
  });
});

describe('returnTo through a real login', () => {
  const op = useProvider();

  it.each([
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example', '/'],
    ['%2F%2Fevil.example', '/'],
    ['/./%2F%2Fevil.com', '/'],
    ['/%2e/%2F%2Fevil.com', '/'],
    ['/a/../%2F%2Fevil.com', '/'],
    ['/profile?tab=1', '/profile?tab=1'],
  ])('?returnTo=%s ends the login at %s', async (returnTo, expected) => {
    const { app } = createApp(testOptions(op));
    const res = await login(newBrowser(app, op.issuer), { query: `?returnTo=${encodeURIComponent(returnTo)}` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(expected);
  });

  it('ignores a repeated returnTo (an array)', async () => {
    const { app } = createApp(testOptions(op));
    const res = await login(newBrowser(app, op.issuer), { query: '?returnTo=/a&returnTo=/b' });
    expect(res.headers.location).toBe('/');
  });

  it('uses defaultReturnTo when none is given', async () => {
    const { app } = createApp(testOptions(op, { defaultReturnTo: '/dashboard' }));
    const res = await login(newBrowser(app, op.issuer));
    expect(res.headers.location).toBe('/dashboard');
  });
});

/** What the paired micro-benchmarks (micro/stack.mjs, micro/http-pair.mjs) share: their login and statistics. */

/** The stored login in express-oidc-login's shape (about 1.3 KB as JSON), the same data for every arm. */
export function benchLogin(issuer, sub) {
  const now = Date.now();
  return {
    idToken: `eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.${'x'.repeat(700)}.${'s'.repeat(342)}`,
    accessToken: 'y'.repeat(43),
    tokenType: 'bearer',
    claims: { iss: issuer, sub, aud: 'bench-client', exp: Math.floor(now / 1000) + 3600, iat: Math.floor(now / 1000), name: 'Bench User', email: `${sub}@bench.example` },
    loggedInAt: now,
    activeAt: now,
    expiresAt: Math.floor(now / 1000) + 3600,
    scope: 'openid profile email',
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median of the per-block ratios a[i] / b[i] and its bootstrap 95% interval (2,000 resamples,
 * seeded, so a run's figures can be recomputed), with the smallest and largest block ratio.
 */
export function pairedRatio(a, b) {
  const ratios = a.map((x, i) => x / b[i]);
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const boots = [];
  for (let r = 0; r < 2000; r++) boots.push(median(ratios.map(() => ratios[Math.floor(rand() * ratios.length)])));
  boots.sort((x, y) => x - y);
  return {
    median: median(ratios),
    low: boots[Math.floor(0.025 * boots.length)],
    high: boots[Math.floor(0.975 * boots.length)],
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  };
}

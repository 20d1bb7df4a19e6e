/** Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package. */
import { readFileSync } from 'node:fs';

/** Where a function lives: our dist/, a package in node_modules, node's own code, or V8. */
export function areaOf(url, functionName) {
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return 'V8/native';
  }
  if (url.startsWith('node:internal/deps/'))
    return `${url.slice('node:internal/deps/'.length).split('/')[0]} (bundled in node)`;
  if (url.startsWith('node:internal/'))
    return `node:internal/${url.slice('node:internal/'.length).split('/')[0].replace(/\.js$/, '')}`;
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/')) return 'express-oidc-login (dist)';
  if (url.includes('/bench/')) return 'bench app';
  return url;
}

function shortUrl(url) {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * @returns {{ totalMs: number, busyMs: number, top: Array, areas: Array }} self times in ms; `busyMs`
 * excludes (idle). Percentages are of busy time.
 */
export function summarise(file, topN = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the interval after a sample to it.
    const dt = timeDeltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const byFunction = new Map();
  const byArea = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const area = areaOf(url, name);
    total += us;
    if (area === 'idle') {
      idle += us;
      continue;
    }
    const key = `${name} ${shortUrl(url)}:${lineNumber + 1}`;
    const f = byFunction.get(key) ?? { name, where: url ? `${shortUrl(url)}:${lineNumber + 1}` : '', area, us: 0 };
    f.us += us;
    byFunction.set(key, f);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => Math.round((1000 * us) / busy) / 10;
  return {
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    top: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, area: f.area, ms: Math.round(f.us / 100) / 10, pct: pct(f.us) })),
    areas: [...byArea]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: Math.round(us / 100) / 10, pct: pct(us) })),
  };
}

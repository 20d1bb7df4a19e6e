import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { anchorsOf, linkedPages, linksOf, read } from './support/markdown.js';

/**
 * The README, docs/ and the other READMEs link to each other by relative paths, which nothing else
 * checks: a page moved or a heading renamed would leave a link that goes nowhere, on GitHub and on
 * npm alike.
 */
describe('relative links in the READMEs and docs/', () => {
  const files = linkedPages();

  it.each(files)('%s: every relative link points at a file (and heading) that exists', (file) => {
    const broken: string[] = [];
    for (const link of linksOf(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const [path = '', anchor] = link.split('#', 2);
      const target = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
      if (target.startsWith('..') || !existsSync(target)) {
        broken.push(`${link} (no file ${target})`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && statSync(target).isFile()) {
        if (!anchorsOf(read(target)).has(anchor)) broken.push(`${link} (no heading #${anchor} in ${target})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('finds the pages and their links', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(files.flatMap((file) => linksOf(read(file))).length).toBeGreaterThan(50);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

/** The front page stays a front page: what a newcomer needs first, the manual in docs/. */
describe('README', () => {
  const readme = readFileSync('README.md', 'utf8');

  it('gives the example app quick start commands and its users', () => {
    expect(readme).toMatch(/npm install && npm start/);
    expect(readme).toMatch(/npm test/);
    expect(readme).toMatch(/`alice` \/ `alice`/);
  });

  it('shows a complete app taken from a real file (test/docs.test.ts compares them)', () => {
    expect(readme).toContain('<!-- from: examples/minimal/app.ts#minimal-app -->');
    expect(readme).toContain('<!-- from: example-app/app.ts#quick-start -->');
  });

  it('is at most 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });
});

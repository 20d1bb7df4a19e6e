import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

/** The README shows the example app's setup copied, not paraphrased: this keeps the two equal. */
describe('README', () => {
  const readme = readFileSync('README.md', 'utf8');
  const app = readFileSync('example-app/app.ts', 'utf8');

  it('shows the quick-start region of example-app/app.ts as it is', () => {
    const region = /\/\/ #region quick-start[^\n]*\n([\s\S]*?)\n\s*\/\/ #endregion/.exec(app)?.[1];
    expect(region).toBeDefined();
    const dedented = region!
      .split('\n')
      .map((line) => line.replace(/^ {2}/, ''))
      .join('\n');
    const shown = /<!-- quick-start: example-app\/app\.ts -->\n```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(shown).toBe(dedented);
  });

  it('gives the quick start commands', () => {
    expect(readme).toMatch(/npm install && npm start/);
    expect(readme).toMatch(/npm test/);
  });
});

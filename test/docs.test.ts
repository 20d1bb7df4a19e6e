import { describe, expect, it } from '@jest/globals';
import { documentationFiles, read } from './support/markdown.js';
import { regionOf } from './support/regions.js';
import { typecheck } from './support/typecheck.js';

/** A fenced code block of a page, with the HTML comment right above it (its marker), if any. */
interface CodeBlock {
  file: string;
  line: number;
  lang: string;
  marker: string | undefined;
  code: string;
}

function codeBlocks(file: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const text = read(file);
  for (const m of text.matchAll(/(?:<!-- ([^\n]*?) -->\n)?^```(\w*)[^\n]*\n([\s\S]*?)^```$/gm)) {
    const line = text.slice(0, m.index).split('\n').length;
    blocks.push({ file, line, marker: m[1], lang: m[2]!, code: m[3]!.replace(/\n$/, '') });
  }
  return blocks;
}

const blocks = documentationFiles().flatMap(codeBlocks);
const copies = blocks.filter((block) => block.marker?.startsWith('from: '));

/**
 * The README and docs/ show code that runs: a block marked `<!-- from: path#region -->` is a copy of a
 * `// #region` of a file that the tests compile or run, and must stay equal to it.
 */
describe('code blocks in README.md and docs/', () => {
  it.each(copies.map((block) => [`${block.file}:${block.line} ${block.marker!}`, block] as const))(
    '%s is the region as it is',
    (_name, block) => {
      const [path, region] = block.marker!.slice('from: '.length).split('#');
      expect(regionOf(path!, region!)).toBe(block.code);
    },
  );

  it('has copies to check', () => {
    expect(copies.length).toBeGreaterThanOrEqual(3);
  });
});

describe('the examples the docs copy from', () => {
  it('type-check under the strict options of the tests', () => {
    expect(typecheck(new Map([['examples/minimal/app.ts', undefined]]))).toEqual([]);
  });
});

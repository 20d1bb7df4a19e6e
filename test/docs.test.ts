import { describe, expect, it } from '@jest/globals';
import { asModule } from './support/doc-fragments.js';
import { documentationFiles, read } from './support/markdown.js';
import { regionOf } from './support/regions.js';
import { typecheck } from './support/typecheck.js';

/**
 * Every TypeScript block in README.md and docs/ says what it is, in an HTML comment on the line
 * above it, and is checked accordingly:
 *
 * - `<!-- from: path#region -->`: a copy of the `// #region <region>` of a real file that the tests
 *   compile or run; it must stay equal to it.
 * - `<!-- module: name.ts -->`: a complete module, as written (its imports included), type-checked
 *   with the tests' strict options. Other blocks of the same page can import it (`./name.js`).
 * - `<!-- fragment -->`: a part of an app, type-checked as written after a prelude that declares what
 *   it leaves out (the package's exports, `app`, `issuer`, `clientId`, `handler`...:
 *   test/support/doc-fragments.ts).
 * - `<!-- sketch -->`: a shape with parts elided (`...`), which cannot compile. Kept few.
 */

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
  const fence = /(?:^( *)<!-- ([^\n]*?) -->\n)?^( *)```(\w*)[^\n]*\n([\s\S]*?)^\3```$/gm;
  for (const m of text.matchAll(fence)) {
    const indent = m[3]!.length;
    const code = m[5]!
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => line.slice(Math.min(indent, /^ */.exec(line)![0].length)))
      .join('\n');
    const line = text.slice(0, m.index).split('\n').length + (m[2] === undefined ? 0 : 1);
    blocks.push({ file, line, marker: m[2], lang: m[4]!, code });
  }
  return blocks;
}

const typescript = documentationFiles()
  .flatMap(codeBlocks)
  .filter((block) => ['ts', 'js', 'typescript', 'javascript'].includes(block.lang));
const kind = (block: CodeBlock) => /^(from|module|fragment|sketch)\b/.exec(block.marker ?? '')?.[1];
const copies = typescript.filter((block) => kind(block) === 'from');
const compiled = typescript.filter((block) => kind(block) === 'module' || kind(block) === 'fragment');
const name = (block: CodeBlock) => `${block.file}:${block.line}`;

/** Where a checked block lives while it is compiled: beside the others of its page. */
function virtualPath(block: CodeBlock): string {
  const dir = `test/.doc-blocks/${block.file.replace(/\.md$/, '').replace(/\//g, '_')}`;
  const moduleName = /^module: (\S+\.ts)$/.exec(block.marker!)?.[1];
  return `${dir}/${moduleName ?? `line-${block.line}.ts`}`;
}

describe('code blocks in README.md and docs/', () => {
  it('each TypeScript block says what it is (from:, module:, fragment or sketch)', () => {
    expect(typescript.filter((block) => kind(block) === undefined).map(name)).toEqual([]);
  });

  it.each(copies.map((block) => [`${name(block)} ${block.marker!}`, block] as const))(
    '%s is the region as it is',
    (_name, block) => {
      const [path, region] = block.marker!.slice('from: '.length).split('#');
      expect(regionOf(path!, region!)).toBe(block.code);
    },
  );

  it('the modules and fragments type-check as written, and the files copied from too', () => {
    const files = new Map<string, string | undefined>();
    const origin = new Map<string, { block: CodeBlock; offset: number }>();
    for (const block of compiled) {
      const text = kind(block) === 'module' ? `${block.code}\n` : asModule(block.code);
      const path = virtualPath(block);
      files.set(path, text);
      origin.set(path, { block, offset: text.split('\n').length - block.code.split('\n').length - 1 });
    }
    // The TypeScript ones: a JavaScript file copied from (a jest.config.js of examples/) runs in test/examples.test.ts.
    for (const block of copies) {
      const path = block.marker!.slice('from: '.length).split('#')[0]!;
      if (path.endsWith('.ts')) files.set(path, undefined);
    }
    const errors = typecheck(files).map((diagnostic) => {
      // Name the page and line, not the compiled file.
      for (const [path, { block, offset }] of origin) {
        const at = diagnostic.indexOf(`${path}:`);
        if (at < 0) continue;
        const [, line, rest] = /^:(\d+):\d+ (.*)$/s.exec(diagnostic.slice(at + path.length))!;
        return `${block.file}:${block.line + Number(line) - offset} ${rest}`;
      }
      return diagnostic;
    });
    expect(errors).toEqual([]);
  });

  it('finds blocks of each kind, and few sketches', () => {
    const count = (k: string) => typescript.filter((block) => kind(block) === k).length;
    expect(count('from')).toBeGreaterThanOrEqual(3);
    expect(count('fragment')).toBeGreaterThan(10);
    expect(count('sketch')).toBeLessThanOrEqual(count('fragment') / 3);
  });
});

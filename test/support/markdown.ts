import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** README.md and every page under docs/, as repository-relative paths with `/`. */
export function documentationFiles(): string[] {
  const pages: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(path);
    }
  };
  walk('docs');
  return ['README.md', ...pages.sort()];
}

/**
 * The pages whose relative links are checked: the documentation, and the READMEs a reader reaches
 * from it (the example app, examples/, bench/). CHANGELOG.md is left out: it names files as they were.
 */
export function linkedPages(): string[] {
  return [...documentationFiles(), 'example-app/README.md', 'examples/README.md', 'bench/README.md'];
}

export function read(path: string): string {
  return readFileSync(join(process.cwd(), path), 'utf8');
}

/**
 * The text outside fenced code blocks (links and headings inside code are not links and headings),
 * indented ones (a block inside a list item) included: a block ends at a fence of its own indentation.
 */
export function prose(markdown: string): string {
  return markdown.replace(/^( *)(```|~~~)[^\n]*\n[\s\S]*?^\1\2[^\n]*$/gm, '');
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens, -1, -2… for repeats. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const [, id] of markdown.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** Every inline link target in the prose: `[text](target)`, images included. */
export function linksOf(markdown: string): string[] {
  const text = prose(markdown).replace(/`[^`\n]*`/g, (code) => (code.includes('](') ? '' : code));
  return [...text.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((m) => m[1]!);
}

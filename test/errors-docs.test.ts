import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

/** The codes of the `OidcErrorCode` union in lib/util/errors.ts. */
function errorCodes(): string[] {
  const file = 'lib/util/errors.ts';
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const codes: string[] = [];
  source.forEachChild((node) => {
    if (ts.isTypeAliasDeclaration(node) && node.name.text === 'OidcErrorCode' && ts.isUnionTypeNode(node.type)) {
      for (const member of node.type.types) {
        if (ts.isLiteralTypeNode(member) && ts.isStringLiteral(member.literal)) codes.push(member.literal.text);
      }
    }
  });
  return codes;
}

/** Declared in the union but passed to next() nowhere: documenting them would promise what never comes. */
const NEVER_THROWN = new Set([
  // The back-channel logout route answers a bad logout token itself (400 JSON, as the spec says).
  'ERR_OIDC_LOGOUT_TOKEN_INVALID',
]);

/** Apps match on `err.code`: each one they can get is in the table of docs/errors.md, with its status. */
describe('docs/errors.md', () => {
  const rows = readFileSync('docs/errors.md', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `ERR_OIDC_'))
    .map((line) => /^\| `(ERR_OIDC_[A-Z_]+)` \| ([\d /]+) \|/.exec(line)?.[1] ?? line);

  it('has a row for every error code, and none for a code that does not exist', () => {
    const codes = errorCodes().filter((code) => !NEVER_THROWN.has(code));
    expect(codes.length).toBeGreaterThan(20);
    expect([...rows].sort()).toEqual([...codes].sort());
  });

  it('the codes left out are still declared (drop them from the list when they go)', () => {
    for (const code of NEVER_THROWN) expect(errorCodes()).toContain(code);
  });
});

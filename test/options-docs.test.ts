import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';
import { DEFAULTS } from '../lib/options/defaults.js';
import { KNOWN_OPTIONS, LOGOUT_KEYS, ROUTE_KEYS } from '../lib/options/keys.js';

/**
 * One source for the options: the key lists (options/keys.ts) and the defaults (options/defaults.ts)
 * are what the code uses; the TSDoc (options/types.ts) and the options page (docs/options.md) are
 * what people read. This fails when they disagree: an option without a row or a TSDoc, a row for an
 * option that does not exist, a default written differently in one place.
 */

/** The members of an interface in options/types.ts, with their TSDoc, nested object members as `a.b`. */
function membersOf(interfaceName: string): Map<string, string> {
  const file = 'lib/options/types.ts';
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const members = new Map<string, string>();
  const docOf = (node: ts.Node) =>
    ts
      .getJSDocCommentsAndTags(node)
      .map((doc) => doc.getText())
      .join('\n');
  const visit = (type: ts.TypeElement[] | ts.NodeArray<ts.TypeElement>, prefix: string, parentDoc: string) => {
    for (const member of type) {
      if (!ts.isPropertySignature(member) || !member.name) continue;
      const name = prefix + member.name.getText(source);
      const doc = docOf(member);
      members.set(name, doc || parentDoc);
      if (member.type && ts.isTypeLiteralNode(member.type)) visit(member.type.members, `${name}.`, doc);
    }
  };
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === interfaceName) visit(node.members, '', '');
  });
  return members;
}

interface Row {
  names: string[];
  cells: string[];
}

/** The rows of the tables of a page whose first cell names options: `name`, `a`, `b.c`. */
function optionRows(page: string): Row[] {
  return readFileSync(page, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim());
      const names = [...cells[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      return { names, cells };
    });
}

/** The ways a default may be written: as it is, and durations in words (`7 days`, `10 minutes`). */
function spellings(value: unknown, unit?: 's' | 'ms'): string[] {
  const written = [String(value)];
  if (typeof value === 'number' && unit) {
    const seconds = unit === 'ms' ? value / 1000 : value;
    for (const [size, word] of [
      [86400, 'day'],
      [3600, 'hour'],
      [60, 'minute'],
    ] as const) {
      if (seconds % size === 0) {
        const n = seconds / size;
        written.push(`${n} ${word}${n === 1 ? '' : 's'}`);
        break;
      }
    }
  }
  return written;
}

/** Each default of options/defaults.ts: the option it belongs to, and where the page says it. */
const DEFAULT_OF: Record<keyof typeof DEFAULTS, { option: string; unit?: 's' | 'ms'; inRow?: true }> = {
  scope: { option: 'scope' },
  loginPath: { option: 'routes.login' },
  callbackPath: { option: 'routes.callback' },
  logoutPath: { option: 'routes.logout' },
  backchannelLogoutPath: { option: 'routes.backchannelLogout' },
  frontchannelLogoutPath: { option: 'routes.frontchannelLogout' },
  jwksPath: { option: 'routes.jwks' },
  refreshLeeway: { option: 'refreshLeeway' },
  absoluteDuration: { option: 'absoluteDuration', unit: 's' },
  idleDuration: { option: 'idleDuration', unit: 's' },
  clientAuthMethod: { option: 'clientAuthMethod' },
  dpopAlg: { option: 'dpop', inRow: true },
  idTokenSigningAlg: { option: 'idTokenSigningAlg' },
  httpTimeout: { option: 'httpTimeout' },
  clockTolerance: { option: 'clockTolerance' },
  logoutTokenMaxAge: { option: 'logoutTokenMaxAge' },
  transactionMaxAge: { option: 'transactionMaxAge', unit: 'ms' },
  maxPendingLogins: { option: 'maxPendingLogins' },
  defaultReturnTo: { option: 'defaultReturnTo' },
  responseMode: { option: 'responseMode' },
  discovery: { option: 'discovery' },
  fetchUserInfo: { option: 'fetchUserInfo' },
  keepSessionData: { option: 'keepSessionData' },
  discoveryMaxAge: { option: 'discoveryMaxAge', unit: 's' },
  resourceParameter: { option: 'resourceParameter' },
};

describe('the options page, the TSDoc and the code agree', () => {
  const options = membersOf('OidcLoginOptions');
  const rows = optionRows('docs/options.md');
  const documented = rows.flatMap((row) => row.names);
  const rowOf = (option: string) =>
    rows.find((row) => row.names.includes(option)) ?? rows.find((row) => row.names.includes(option.split('.')[0]!));

  it('types.ts has exactly the options of keys.ts, each with a TSDoc', () => {
    const topLevel = [...options.keys()].filter((name) => !name.includes('.'));
    expect(topLevel.sort()).toEqual([...KNOWN_OPTIONS].sort());
    expect([...options.keys()].filter((name) => name.startsWith('routes.')).sort()).toEqual(
      ROUTE_KEYS.map((key) => `routes.${key}`).sort(),
    );
    expect([...options].filter(([, doc]) => !doc.trim()).map(([name]) => name)).toEqual([]);
  });

  it('docs/options.md has a row for every option, and none for an option that does not exist', () => {
    expect(KNOWN_OPTIONS.filter((option) => !documented.includes(option))).toEqual([]);
    expect(ROUTE_KEYS.filter((key) => !rowOf(`routes.${key}`))).toEqual([]);
    expect(documented.filter((name) => !options.has(name))).toEqual([]);
  });

  it('the logout options: the same keys in keys.ts, types.ts, docs/logout.md and the options row', () => {
    const logout = [...membersOf('LogoutOptions').keys()].sort();
    expect(logout).toEqual([...LOGOUT_KEYS].sort());
    const logoutRows = optionRows('docs/logout.md').flatMap((row) => row.names);
    expect(logoutRows.filter((name) => !name.includes('*')).sort()).toEqual(logout);
    for (const key of LOGOUT_KEYS) expect(rowOf('logout')!.cells.join(' ')).toContain(key);
  });

  it.each(Object.entries(DEFAULT_OF))('the default %s is written the same on the page and in the TSDoc', (key, at) => {
    const value = DEFAULTS[key as keyof typeof DEFAULTS];
    const written = spellings(value, at.unit);
    const row = rowOf(at.option);
    expect(row).toBeDefined();
    const onPage = (at.inRow ? row!.cells.join(' ') : row!.cells[1]!).replace(/[`']/g, '');
    expect(written.some((spelling) => onPage.includes(spelling))).toBe(true);
    const doc = options.get(at.option)!;
    if (/default/i.test(doc))
      expect(written.some((spelling) => doc.replace(/[`'\\]/g, '').includes(spelling))).toBe(true);
  });
});

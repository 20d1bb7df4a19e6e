import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { regionOf } from './support/regions.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');
const examples = readdirSync(EXAMPLES).filter((name) => existsSync(join(EXAMPLES, name, 'package.json')));

/**
 * Each folder of examples/ is a small project of its own, installed from `npm pack` of this
 * package as a user's would be: the tarball unpacked into its node_modules (no network install;
 * express, supertest, jest... resolve from the repository's node_modules above it). Its `npm test`
 * logs in against the test kit. Needs a built dist (`npm test` builds it first).
 */
describe('examples/', () => {
  let packDir: string;
  beforeAll(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'express-oidc-login-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: ROOT });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    for (const name of examples) {
      const target = join(EXAMPLES, name, 'node_modules', 'express-oidc-login');
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target, { recursive: true });
      await run('tar', ['-xzf', join(packDir, filename), '-C', target, '--strip-components=1']);
    }
    // Express 4 is installed at the root as "express4" (npm:express@4): the example gets it as "express".
    const express4 = join(EXAMPLES, 'express4', 'node_modules', 'express');
    rmSync(express4, { recursive: true, force: true });
    symlinkSync(join('..', '..', '..', 'node_modules', 'express4'), express4);
  }, 60_000);
  afterAll(() => {
    rmSync(packDir, { recursive: true, force: true });
  });

  it.each(examples)(
    '%s: npm test passes',
    async (name) => {
      try {
        await run('npm', ['test'], { cwd: join(EXAMPLES, name), maxBuffer: 10 * 1024 * 1024 });
      } catch (err) {
        const { stdout, stderr } = err as { stdout?: string; stderr?: string };
        throw new Error(`examples/${name}: npm test failed\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: err });
      }
    },
    240_000,
  );

  it('runs the same test-kit example in jest ESM and CommonJS mode', () => {
    for (const file of ['app.ts', 'app.test.ts']) {
      expect(readFileSync(join(EXAMPLES, 'jest-cjs', file), 'utf8')).toBe(
        readFileSync(join(EXAMPLES, 'jest-esm', file), 'utf8'),
      );
    }
  });

  it('runs the same test-kit example in vitest, importing what jest provides as globals', () => {
    expect(readFileSync(join(EXAMPLES, 'vitest', 'app.ts'), 'utf8')).toBe(
      readFileSync(join(EXAMPLES, 'jest-esm', 'app.ts'), 'utf8'),
    );
    const vitestImport = "import { afterAll, beforeAll, expect, it } from 'vitest';\n";
    const vitestTest = regionOf(join(EXAMPLES, 'vitest', 'app.test.ts'), 'app-test')!;
    expect(vitestTest).toContain(vitestImport);
    expect(vitestTest.replace(vitestImport, '')).toBe(regionOf(join(EXAMPLES, 'jest-esm', 'app.test.ts'), 'app-test'));
  });
});

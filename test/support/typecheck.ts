import { resolve } from 'node:path';
import ts from 'typescript';

/**
 * Type-checks files (real ones, or virtual ones given by content) as an app that installed this
 * package would: `express-oidc-login` and `express-oidc-login/testing` resolve to lib/, with the
 * compiler options of the tests (strict). Returns the diagnostics, formatted, one per entry.
 */
export function typecheck(files: ReadonlyMap<string, string | undefined>): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    resolve('test/tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: {
      'express-oidc-login': [resolve('lib/index.ts')],
      'express-oidc-login/testing': [resolve('lib/testing/index.ts')],
    },
  };
  const virtual = new Map([...files].filter(([, text]) => text !== undefined).map(([p, t]) => [resolve(p), t!]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.directoryExists = (dir) =>
    [...virtual.keys()].some((name) => name.startsWith(`${dir}/`)) || ts.sys.directoryExists(dir);
  host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) =>
    virtual.has(name)
      ? ts.createSourceFile(name, virtual.get(name)!, language)
      : getSourceFile.call(host, name, language, ...rest);
  const program = ts.createProgram(
    [...files.keys()].map((p) => resolve(p)),
    options,
    host,
  );
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || [...files.keys()].some((p) => resolve(p) === d.file!.fileName))
    .map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return message;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${d.file.fileName}:${line + 1}:${character + 1} TS${d.code} ${message}`;
    });
}

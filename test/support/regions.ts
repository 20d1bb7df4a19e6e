import { readFileSync } from 'node:fs';

const REGION_START = /^\s*\/\/ #region (\S+)/;
const REGION_END = /^\s*\/\/ #endregion\b/;

/**
 * The lines between `// #region <name>` and its `// #endregion` in a source file, dedented by the
 * region's own indentation, without the markers of regions nested in it. Undefined when absent.
 */
export function regionOf(file: string, name: string): string | undefined {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((line) => REGION_START.exec(line)?.[1] === name);
  if (start < 0) return undefined;
  const body: string[] = [];
  let depth = 1;
  for (const line of lines.slice(start + 1)) {
    if (REGION_START.test(line)) depth++;
    else if (REGION_END.test(line)) depth--;
    else body.push(line);
    if (depth === 0) break;
  }
  if (depth !== 0) return undefined;
  const indent = Math.min(...body.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length));
  return body.map((line) => line.slice(indent)).join('\n');
}

/**
 * Best-effort line:column for diagnostics of TS/JS configs. The config's source is parsed with the
 * TypeScript compiler (loaded on demand, only when there is something to place, and optional: if
 * it is not installed, diagnostics simply carry no position). The default export is followed
 * through `defineConfig(…)`, `satisfies`/`as`, and a local `const`, then the diagnostic path is
 * walked through object and array literals; the deepest literal node reached gives the position.
 * Values computed at runtime (function calls, spreads) stop the walk at their enclosing node.
 */
import { readFile } from 'node:fs/promises';
import type { DiagnosticPath } from './diagnostics.ts';
import type { Locate } from './load.ts';

type TS = typeof import('typescript');
type Node = import('typescript').Node;

/** Builds a locator for `file`, or undefined if TypeScript or the file is unavailable. */
export async function createTsLocator(file: string): Promise<Locate | undefined> {
  let ts: TS;
  try {
    ts = ((await import('typescript')) as { default: TS }).default;
  } catch {
    return undefined;
  }
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const consts = new Map<string, Node>();
  let root: Node | undefined;
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations)
        if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, d.initializer);
    } else if (ts.isExportAssignment(statement)) root = statement.expression;
  }
  if (root === undefined) return undefined;

  const unwrap = (node: Node): Node => {
    let current = node;
    for (let i = 0; i < 10; i++) {
      if (ts.isParenthesizedExpression(current) || ts.isAsExpression(current) || ts.isSatisfiesExpression(current))
        current = current.expression;
      else if (ts.isCallExpression(current) && current.arguments.length === 1) current = current.arguments[0]!;
      else if (ts.isIdentifier(current) && consts.has(current.text)) current = consts.get(current.text)!;
      else break;
    }
    return current;
  };

  const child = (node: Node, key: string | number): Node | undefined => {
    const value = unwrap(node);
    if (typeof key === 'number' && ts.isArrayLiteralExpression(value)) {
      const element = value.elements[key];
      return element && !ts.isSpreadElement(element) ? element : undefined;
    }
    if (typeof key === 'string' && ts.isObjectLiteralExpression(value)) {
      for (const property of value.properties) {
        const name = property.name;
        const text =
          name && (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name))
            ? name.text
            : undefined;
        if (text !== key) continue;
        if (ts.isPropertyAssignment(property)) return property.initializer;
        if (ts.isShorthandPropertyAssignment(property)) return property.name;
        return property;
      }
    }
    return undefined;
  };

  return (path: DiagnosticPath) => {
    let node: Node = root;
    for (const key of path) {
      const next = child(node, key);
      if (next === undefined) break;
      node = next;
    }
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return { line: line + 1, column: character + 1 };
  };
}

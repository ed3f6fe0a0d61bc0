import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * docs/architecture.md ("Layers and allowed imports") is the one statement of which module may import
 * which; this test parses every import under src/ (type-only, re-exports and dynamic `import()`
 * included) and holds the code to it.
 */

const root = join(import.meta.dirname, '..');
const SECTION = '## Layers and allowed imports';

interface Module {
  name: string;
  patterns: string[];
  /** Allowed target module → whether only type-only imports are allowed. */
  mayImport: Map<string, { typesOnly: boolean }>;
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

const toPosix = (p: string) => p.split(sep).join('/');
const ticks = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [toPosix(relative(root, p))] : [];
  });
}

/** The rows of the Markdown table whose header starts with `firstHeader`, as cells. */
function table(section: string, firstHeader: string): string[][] {
  const lines = section.split('\n');
  const start = lines.findIndex((l) => l.startsWith('|') && l.split('|')[1]?.trim() === firstHeader);
  if (start < 0) throw new Error(`docs/architecture.md: no table headed "${firstHeader}" in "${SECTION}"`);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

function readDoc() {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const at = doc.indexOf(`\n${SECTION}\n`);
  if (at < 0) throw new Error(`docs/architecture.md has no section "${SECTION}"`);
  const next = doc.indexOf('\n## ', at + SECTION.length + 2);
  const section = doc.slice(at, next < 0 ? undefined : next);

  const modules: Module[] = table(section, 'module').map(([name, files, may]) => ({
    name: ticks(name)[0],
    patterns: ticks(files),
    mayImport: new Map(
      may === '—' ? [] : may.split(',').map((part) => [ticks(part)[0], { typesOnly: /\(types\)/.test(part) }] as const),
    ),
  }));
  // Each leaf is a module of its own, named by its path: it imports nothing from src/, anyone may import it.
  const leaves = table(section, 'leaf').map(([file]) => ticks(file)[0]);
  for (const leaf of leaves) modules.push({ name: leaf, patterns: [leaf], mayImport: new Map() });
  const exceptions = table(section, 'from').map(([from, to, why]) => ({ from: ticks(from)[0], to: ticks(to)[0], why }));
  return { modules, leaves: new Set(leaves), exceptions };
}

/** A file path matches `src/x/` (that folder, at any depth), `src/x.ts` (that file) or `src/*-y.ts` (`*`: within one name). */
function matches(pattern: string, file: string): boolean {
  if (pattern.endsWith('/')) return file.startsWith(pattern);
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return re.test(file);
}

/** The most specific pattern wins: a file pattern over a folder, a deeper folder over a shallower one. */
function specificity(pattern: string): number {
  return (pattern.endsWith('/') ? 0 : 10_000) + pattern.length;
}

function moduleOf(modules: Module[], file: string): string | null {
  let best: { name: string; score: number } | null = null;
  for (const m of modules)
    for (const p of m.patterns)
      if (matches(p, file) && (!best || specificity(p) > best.score)) best = { name: m.name, score: specificity(p) };
  return best?.name ?? null;
}

function resolveSpecifier(from: string, spec: string): string {
  const abs = resolve(root, dirname(from), spec.replace(/\.js$/, '.ts'));
  return toPosix(relative(root, abs));
}

/** Every import of one file that names a relative path: declarations, `export … from`, `import()` and `import('…').T`. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(join(root, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (spec.startsWith('.')) out.push({ from: file, to: resolveSpecifier(file, spec), typeOnly });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      // Under verbatimModuleSyntax only `import type` disappears at run time; `import { type A }` stays as `import {}`.
      add(n.moduleSpecifier.text, n.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      const e = n.moduleReference.expression;
      if (ts.isStringLiteral(e)) add(e.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = n.arguments;
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('import direction (docs/architecture.md, "Layers and allowed imports")', () => {
  const { modules, leaves, exceptions } = readDoc();
  const files = sourceFiles(join(root, 'src'));
  const names = new Set(modules.map((m) => m.name));
  const edges = files.flatMap(importsOf);

  it('names only modules it defines', () => {
    const unknown = modules.flatMap((m) =>
      [...m.mayImport.keys()].filter((t) => !names.has(t)).map((t) => `${m.name} may import unknown module "${t}"`),
    );
    expect(unknown).toEqual([]);
  });

  it('places every file under src/ in a module', () => {
    const unplaced = files.filter((f) => !moduleOf(modules, f));
    // A new top-level folder or file: add it to the module table (or a pattern of an existing module).
    expect(unplaced, 'files in no module: place them in docs/architecture.md').toEqual([]);
  });

  it('has no file pattern or exception that matches nothing', () => {
    const stalePatterns = modules.flatMap((m) =>
      m.patterns.filter((p) => !files.some((f) => matches(p, f))).map((p) => `${m.name}: ${p}`),
    );
    const staleExceptions = exceptions
      .filter((x) => !edges.some((e) => e.from === x.from && e.to === x.to))
      .map((x) => `${x.from} → ${x.to}`);
    expect({ stalePatterns, staleExceptions }).toEqual({ stalePatterns: [], staleExceptions: [] });
  });

  it('allows only the edges the document lists', () => {
    const violations: string[] = [];
    for (const e of edges) {
      const from = moduleOf(modules, e.from) ?? 'no module';
      const to = e.to.startsWith('src/') ? moduleOf(modules, e.to) : null;
      if (from === to && !leaves.has(from)) continue;
      if (exceptions.some((x) => x.from === e.from && x.to === e.to)) continue;
      const rule = to ? modules.find((m) => m.name === from)?.mayImport.get(to) : undefined;
      const toLeaf = to !== null && leaves.has(to) && !leaves.has(from);
      if (toLeaf || (rule && (!rule.typesOnly || e.typeOnly))) continue;
      const why = leaves.has(from)
        ? '; a leaf imports nothing from src/'
        : rule?.typesOnly
          ? `; ${from} may import only types of ${to} (import type)`
          : '';
      violations.push(`${e.from} → ${e.to} (${from} → ${to ?? 'outside src/ modules'}${why})`);
    }
    expect(
      violations,
      'move the symbol to where the arrow points down, or change docs/architecture.md ("Layers and allowed imports")',
    ).toEqual([]);
  });
});

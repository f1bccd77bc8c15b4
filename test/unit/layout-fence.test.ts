/**
 * The folders' import rules, read from the sources as they are:
 * - product code (functions/, shared/, infra/, local/, cli/, scripts/) never imports tooling (testkit/, test/,
 *   bench/): what ships, and what `npm start` runs, must work without it;
 * - testkit/ (what tests and benches share) imports nothing from test/ or bench/, so both can depend on it;
 * - shared/ is the domain and imports none of the other folders, so handlers, infrastructure, the local stack and
 *   the CLI all build on it and never the other way round;
 * - a comment in product code, or a line of the top-level docs, gives its reason (or cites Microsoft's docs), never a
 *   ticket number: a newcomer has the code, not the tracker.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const PRODUCT = ['functions', 'shared', 'infra', 'local', 'cli', 'scripts'];
const TOOLING = ['testkit', 'test', 'bench'];
/** Generated or installed, never written by hand. */
const SKIPPED = new Set(['node_modules', 'dist', 'cdk.out']);

function sourcesUnder(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return SKIPPED.has(name) ? [] : sourcesUnder(path);
    return /\.(ts|tsx|js|mjs|cjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative specifiers of static imports and exports, `import()` and `require()`. */
function relativeSpecifiers(source: string): string[] {
  const patterns = [/\bfrom\s+['"](\.[^'"]*)['"]/g, /\bimport\s+['"](\.[^'"]*)['"]/g, /\b(?:import|require)\(\s*['"](\.[^'"]*)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1] ?? ''));
}

/** The top-level folder an import of `file` lands in. */
function topFolderOf(file: string, specifier: string): string {
  return relative(ROOT, join(ROOT, dirname(file), specifier)).split(sep)[0] ?? '';
}

interface Crossing {
  file: string;
  specifier: string;
  folder: string;
}

function importsOf(folders: string[]): Crossing[] {
  return folders.flatMap(sourcesUnder).flatMap((file) =>
    relativeSpecifiers(readFileSync(join(ROOT, file), 'utf8')).map((specifier) => ({ file, specifier, folder: topFolderOf(file, specifier) })),
  );
}

/**
 * Every comment of a source file, as written. The parser finds the strings, templates and regular expressions, which
 * may hold a `//` or `/*` of their own; outside them, those two always open a comment.
 */
function commentsOf(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const literals: [number, number][] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isRegularExpressionLiteral(node)) literals.push([node.getStart(source), node.end]);
    ts.forEachChild(node, visit);
  };
  visit(source);
  let code = '';
  let at = 0;
  for (const [start, end] of literals.sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    code += text.slice(at, start) + text.slice(start, end).replace(/[^\n]/g, ' ');
    at = end;
  }
  code += text.slice(at);
  return [...code.matchAll(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g)].map((match) => text.slice(match.index, match.index + match[0].length));
}

/**
 * The ticket reference in `text`, if any: "issue 3", "ticket #12", or a bare "#12" / "see #12". A number attached to
 * a word (PKCS#8, RENEWAL#0) or after a named source (microsoft-graph-docs#2350, owner/repo #7, UAX #11) is a
 * citation or a value, not a ticket.
 */
function ticketReference(text: string): string | undefined {
  const named = /\b(?:issues?|tickets?|stor(?:y|ies))\s*#?\d+/i.exec(text);
  if (named) return named[0];
  for (const match of text.matchAll(/(?<![&\w])([\w./-]*)(\s?)#\d+\b/g)) {
    const [reference, before = '', gap = ''] = match;
    if (before === '' || (gap !== '' && !/[/-]/.test(before) && !/^[A-Z]{2,}$/.test(before))) return reference;
  }
  return undefined;
}

describe('layout fence', () => {
  it('finds the product sources it checks', () => {
    // Act
    const files = PRODUCT.flatMap(sourcesUnder);

    // Assess: an empty list would make the checks below pass for nothing.
    expect(files.filter((file) => file.startsWith(`shared${sep}`)).length).toBeGreaterThan(10);
    expect(files.filter((file) => file.startsWith(`functions${sep}`)).length).toBeGreaterThan(3);
    expect(importsOf(['functions']).length).toBeGreaterThan(10);
  });

  it('product code imports nothing from testkit/, test/ or bench/', () => {
    // Act
    const crossings = importsOf(PRODUCT).filter((crossing) => TOOLING.includes(crossing.folder));

    // Assess
    expect(crossings).toEqual([]);
  });

  it('testkit/ imports nothing from test/ or bench/', () => {
    // Act
    const crossings = importsOf(['testkit']).filter((crossing) => crossing.folder === 'test' || crossing.folder === 'bench');

    // Assess
    expect(crossings).toEqual([]);
  });

  it('shared/ imports none of the other folders', () => {
    // Act
    const crossings = importsOf(['shared']).filter((crossing) => crossing.folder !== 'shared');

    // Assess
    expect(crossings).toEqual([]);
  });
});

describe('comments', () => {
  it('tells a ticket reference from a citation or a value', () => {
    // Act and Assess
    expect(['(issue 3, item 2)', 'Issue 4: rich', 'ticket #12', '(#12)', 'see #12'].map(ticketReference)).not.toContain(undefined);
    expect(['PKCS#8', 'RENEWAL#0', 'microsoftgraph/microsoft-graph-docs#21403', 'UAX #11', "'&#39;'", 'Graph issued a token'].map(ticketReference)).toEqual(
      Array(6).fill(undefined),
    );
  });

  it('reads comments only, not strings or regular expressions', () => {
    // Act
    const comments = commentsOf('x.ts', "const a = 'issue 3'; // why\nconst b = /\\/\\/ issue 4/; /* because */\nconst c = `#5 ${a}`;\n");

    // Assess
    expect(comments).toEqual(['// why', '/* because */']);
  });

  it('no comment in product code cites a ticket number', () => {
    // Act
    const cited = PRODUCT.flatMap(sourcesUnder).flatMap((file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      // Parsing is the slow part: a file with no reference anywhere has none in its comments.
      if (ticketReference(text) === undefined) return [];
      return commentsOf(file, text).flatMap((comment) => {
        const reference = ticketReference(comment);
        return reference === undefined ? [] : [`${file}: ${reference}`];
      });
    });

    // Assess
    expect(cited).toEqual([]);
  });

  it('no line of the top-level docs cites a ticket number', () => {
    // Act
    const cited = ['README.md', 'TROUBLESHOOTING.md', 'COSTS.md'].filter((doc) => existsSync(join(ROOT, doc))).flatMap((doc) =>
      readFileSync(join(ROOT, doc), 'utf8')
        .split('\n')
        .flatMap((line, index) => {
          // Links to public threads (github.com/…/issues/N) are citations of a source, not tickets.
          const reference = /\b(?:issues?|tickets?)\s*#?\d+/i.exec(line.replace(/\S*\/issues\/\d+\S*/g, ''));
          return reference === null ? [] : [`${doc}:${index + 1}: ${reference[0]}`];
        }),
    );

    // Assess
    expect(cited).toEqual([]);
  });
});

/**
 * The folders' import rules, read from the sources as they are:
 * - product code (functions/, shared/, infra/, local/, cli/, scripts/) never imports tooling (testkit/, test/,
 *   bench/): what ships, and what `npm start` runs, must work without it;
 * - shared/ is the domain and imports none of the other folders, so handlers, infrastructure, the local stack and
 *   the CLI all build on it and never the other way round.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

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

  it('shared/ imports none of the other folders', () => {
    // Act
    const crossings = importsOf(['shared']).filter((crossing) => crossing.folder !== 'shared');

    // Assess
    expect(crossings).toEqual([]);
  });
});

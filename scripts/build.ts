/**
 * Bundles every Lambda handler into `dist/functions/<name>/`, the folder the CDK stack deploys as is.
 * Run directly (`tsx scripts/build.ts`) to build and print sizes; infra/app.ts and the tests call `buildFunctions()`.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export interface FunctionDefinition {
  readonly name: string;
  /** Handler module, relative to the repository root. */
  readonly entry: string;
}

/** Every deployed function: the single list the build and the stack agree on. */
export const FUNCTIONS = [
  { name: 'intake', entry: 'functions/intake/handler.ts' },
  { name: 'renewal', entry: 'functions/renewal/handler.ts' },
  { name: 'reconcile', entry: 'functions/reconcile/handler.ts' },
  { name: 'lifecycle', entry: 'functions/lifecycle/handler.ts' },
  { name: 'route-index', entry: 'functions/route-index/handler.ts' },
  { name: 'migrate', entry: 'functions/migrate/handler.ts' },
  { name: 'resync', entry: 'functions/resync/handler.ts' },
  { name: 'writer-lease', entry: 'functions/writer-lease/handler.ts' },
] as const satisfies readonly FunctionDefinition[];

export type FunctionName = (typeof FUNCTIONS)[number]['name'];

export interface BuildOptions {
  /** Repository root; entries and the output folder are resolved from it. Defaults to this script's parent folder. */
  readonly rootDir?: string;
  /** Functions to build; defaults to `FUNCTIONS`. */
  readonly functions?: readonly FunctionDefinition[];
}

export interface BuiltFunction {
  readonly name: string;
  /** Absolute path of the deployable folder. */
  readonly outdir: string;
  /** Size of `index.js`, the only file parsed on the validation-handshake path. */
  readonly entryBytes: number;
  /** Size of everything in the deployable folder (entry, chunks, package.json). */
  readonly totalBytes: number;
  readonly fileCount: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Deployable folder of a function; the CDK stack points `Code.fromAsset` here. */
export function functionOutDir(name: string, rootDir: string = REPO_ROOT): string {
  return join(rootDir, 'dist', 'functions', name);
}

/** Bundle analysis lives outside the deployable folder so it is never shipped to Lambda. */
function metafilePath(name: string, rootDir: string): string {
  return join(rootDir, 'dist', 'meta', `${name}.json`);
}

// Bundled CommonJS dependencies call `require`, which ESM lacks; every output file gets its own.
const CJS_REQUIRE_BANNER = "import{createRequire}from'module';const require=createRequire(import.meta.url);";

export async function buildFunctions(options: BuildOptions = {}): Promise<BuiltFunction[]> {
  const rootDir = options.rootDir ?? REPO_ROOT;
  const functions = options.functions ?? FUNCTIONS;
  return Promise.all(functions.map((fn) => buildFunction(fn, rootDir)));
}

async function buildFunction(fn: FunctionDefinition, rootDir: string): Promise<BuiltFunction> {
  const outdir = functionOutDir(fn.name, rootDir);
  await rm(outdir, { recursive: true, force: true });

  const result = await build({
    absWorkingDir: rootDir,
    entryPoints: { index: resolve(rootDir, fn.entry) },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // Splitting keeps the SDK in chunks reached only through `import()`, so the handshake path never parses it.
    splitting: true,
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    // Prefer the SDK's ES builds: they tree-shake far better than its CommonJS ones.
    mainFields: ['module', 'main'],
    minify: true,
    legalComments: 'none',
    banner: { js: CJS_REQUIRE_BANNER },
    metafile: true,
    logLevel: 'warning',
  });

  // Lambda and Node decide ESM vs CommonJS for `.js` from the nearest package.json.
  await writeFile(join(outdir, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);
  const metaPath = metafilePath(fn.name, rootDir);
  await mkdir(join(metaPath, '..'), { recursive: true });
  await writeFile(metaPath, JSON.stringify(result.metafile));

  const files = await listFiles(outdir);
  const sizes = await Promise.all(files.map(async (file) => (await stat(file)).size));
  return {
    name: fn.name,
    outdir,
    entryBytes: (await stat(join(outdir, 'index.js'))).size,
    totalBytes: sizes.reduce((sum, size) => sum + size, 0),
    fileCount: files.length,
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function formatKb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

const invokedDirectly = process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url;

function printSizes(built: readonly BuiltFunction[]): void {
  for (const fn of built) {
    const where = relative(process.cwd(), fn.outdir) || '.';
    console.log(
      `${fn.name.padEnd(12)} index.js ${formatKb(fn.entryBytes).padStart(10)}   total ${formatKb(fn.totalBytes).padStart(10)} in ${fn.fileCount} files   ${where}`,
    );
  }
}

// No top-level await: the tests load this module as CommonJS.
if (invokedDirectly) {
  buildFunctions()
    .then(printSizes)
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}

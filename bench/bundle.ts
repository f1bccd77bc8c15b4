/**
 * Builds the functions with the project's own build, snapshots the intake bundle into a private folder (so a
 * concurrent rebuild of dist/ cannot change it mid-run) and analyses it with esbuild's metafile.
 */
import { cp, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { buildFunctions } from '../scripts/build';
import { REPO_ROOT } from '../testkit/repo-root';
import { elapsedMs } from './stats';

const FUNCTION_NAME = 'intake';
/** Strings whose presence in the entry would mean SDK code is parsed on the handshake path. */
const SDK_MARKERS = ['@aws-sdk', '@smithy', 'DynamoDB', 'EventBridge', 'SecretsManager', 'PutEvents', 'BatchGetItem'] as const;

interface MetafileOutput {
  bytes: number;
  inputs: Record<string, { bytesInOutput: number }>;
  imports: { path: string; kind: string; external?: boolean }[];
}
interface Metafile {
  outputs: Record<string, MetafileOutput>;
}

export interface BundleFile {
  /** Relative to the function folder, e.g. `index.js`, `chunks/notifications-XXXX.js`. */
  file: string;
  bytes: number;
  /** Bytes of AWS SDK code (`@aws-sdk/*`, `@smithy/*`, `@aws-crypto/*`) in this file, per the metafile. */
  sdkBytes: number;
}

export interface BundleReport {
  /** Where the deployable folder was built (the repository's dist/). */
  builtAt: string;
  buildMs: number;
  entryBytes: number;
  /** Every file in the deployable folder (entry, chunks, package.json). */
  totalBytes: number;
  fileCount: number;
  /** Entry plus the chunks it imports statically (transitively): everything parsed before the handshake answers. */
  handshakePathBytes: number;
  handshakePathFiles: string[];
  sdkBytesInEntry: number;
  sdkBytesOnHandshakePath: number;
  sdkBytesTotal: number;
  /** Occurrences of SDK marker strings in the entry's text. */
  entryMarkers: Record<string, number>;
  sdkAbsentFromEntry: boolean;
  /** Bytes per npm package (or repository folder) across all output files, largest first. */
  topPackages: { name: string; bytes: number }[];
  /**
   * Rich notifications' share: jose and the decryption, token and key modules, by output file. None of it may be
   * on the handshake path.
   */
  richBytes: { total: number; onHandshakePath: number; byInput: { name: string; bytes: number }[] };
  files: BundleFile[];
}

export interface BundleSnapshot {
  /** Private copy of dist/functions/intake: import `<dir>/index.js`. */
  dir: string;
  entryPath: string;
  report: BundleReport;
}

class SnapshotRaceError extends Error {
  override readonly name = 'SnapshotRaceError';
}

/** Builds with `buildFunctions()`, copies the intake folder into `snapshotDir` and analyses the copy. */
export async function buildAndSnapshot(snapshotDir: string, log: (line: string) => void): Promise<BundleSnapshot> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await buildOnce(join(snapshotDir, `${FUNCTION_NAME}-${attempt}`), log);
    } catch (error) {
      // Another engineer's build may replace dist/ between our build and our copy: build again.
      if (!(error instanceof SnapshotRaceError) || attempt >= 3) throw error;
      log(`bundle changed while copying (${error.message}); building again`);
    }
  }
}

async function buildOnce(dir: string, log: (line: string) => void): Promise<BundleSnapshot> {
  log('building the functions (buildFunctions() from scripts/build.ts)…');
  const started = process.hrtime.bigint();
  const built = await buildFunctions();
  const buildMs = elapsedMs(started);
  const intake = built.find((fn) => fn.name === FUNCTION_NAME);
  if (intake === undefined) throw new Error(`buildFunctions() built no "${FUNCTION_NAME}" function`);
  log(`built ${built.map((fn) => fn.name).join(', ')} in ${buildMs.toFixed(0)} ms`);

  await cp(intake.outdir, dir, { recursive: true });
  const metafile = JSON.parse(await readFile(join(REPO_ROOT, 'dist', 'meta', `${FUNCTION_NAME}.json`), 'utf8')) as Metafile;
  const outPrefix = `${relative(REPO_ROOT, intake.outdir).split('\\').join('/')}/`;
  const outputs = new Map<string, MetafileOutput>();
  for (const [path, output] of Object.entries(metafile.outputs)) {
    if (path.startsWith(outPrefix) && !path.endsWith('.map')) outputs.set(path.slice(outPrefix.length), output);
  }

  const files: BundleFile[] = [];
  for (const file of await listFiles(dir)) {
    const bytes = (await stat(join(dir, file))).size;
    const output = outputs.get(file);
    if (file.endsWith('.js') && (output === undefined || output.bytes !== bytes)) {
      throw new SnapshotRaceError(`${file} does not match dist/meta/${FUNCTION_NAME}.json`);
    }
    files.push({ file, bytes, sdkBytes: output === undefined ? 0 : sdkBytesOf(output) });
  }
  if (outputs.size !== files.filter((f) => f.file.endsWith('.js')).length) {
    throw new SnapshotRaceError('the metafile lists files that the folder lacks');
  }

  const entry = files.find((f) => f.file === 'index.js');
  if (entry === undefined) throw new Error(`${intake.outdir} has no index.js`);
  const entryText = await readFile(join(dir, 'index.js'), 'utf8');
  const entryMarkers = Object.fromEntries(SDK_MARKERS.map((marker) => [marker, countOccurrences(entryText, marker)]));

  const handshakePathFiles = staticClosure('index.js', outputs, outPrefix);
  const byFile = new Map(files.map((f) => [f.file, f]));
  const sum = (names: readonly string[], pick: (f: BundleFile) => number) =>
    names.reduce((total, name) => total + pick(byFile.get(name) ?? { file: name, bytes: 0, sdkBytes: 0 }), 0);

  return {
    dir,
    entryPath: join(dir, 'index.js'),
    report: {
      builtAt: intake.outdir,
      buildMs,
      entryBytes: entry.bytes,
      totalBytes: files.reduce((total, f) => total + f.bytes, 0),
      fileCount: files.length,
      handshakePathBytes: sum(handshakePathFiles, (f) => f.bytes),
      handshakePathFiles,
      sdkBytesInEntry: entry.sdkBytes,
      sdkBytesOnHandshakePath: sum(handshakePathFiles, (f) => f.sdkBytes),
      sdkBytesTotal: files.reduce((total, f) => total + f.sdkBytes, 0),
      entryMarkers,
      sdkAbsentFromEntry: entry.sdkBytes === 0 && Object.values(entryMarkers).every((count) => count === 0),
      topPackages: topPackages([...outputs.values()]),
      richBytes: richBytesOf(outputs, handshakePathFiles),
      files: files.sort((a, b) => b.bytes - a.bytes),
    },
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

/** Inputs that exist for rich notifications only. */
function isRichInput(path: string): boolean {
  return /node_modules\/jose\/|shared\/rich\/|shared\/intake\/rich-notifications|shared\/secrets\/encryption-keys/.test(path);
}

function richBytesOf(outputs: ReadonlyMap<string, MetafileOutput>, handshakePathFiles: readonly string[]): BundleReport['richBytes'] {
  const byInput = new Map<string, number>();
  let total = 0;
  let onHandshakePath = 0;
  for (const [file, output] of outputs) {
    for (const [path, input] of Object.entries(output.inputs)) {
      if (!isRichInput(path)) continue;
      const name = path.includes('node_modules/jose/') ? 'jose' : path;
      byInput.set(name, (byInput.get(name) ?? 0) + input.bytesInOutput);
      total += input.bytesInOutput;
      if (handshakePathFiles.includes(file)) onHandshakePath += input.bytesInOutput;
    }
  }
  return { total, onHandshakePath, byInput: [...byInput].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes) };
}

function isSdkInput(path: string): boolean {
  return /node_modules\/@(aws-sdk|smithy|aws-crypto)\//.test(path);
}

function sdkBytesOf(output: MetafileOutput): number {
  return Object.entries(output.inputs).reduce((total, [path, input]) => total + (isSdkInput(path) ? input.bytesInOutput : 0), 0);
}

/** Output files reached from `start` through static imports only (dynamic `import()` is not followed). */
function staticClosure(start: string, outputs: ReadonlyMap<string, MetafileOutput>, outPrefix: string): string[] {
  const seen = new Set<string>([start]);
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift() as string;
    for (const imported of outputs.get(current)?.imports ?? []) {
      if (imported.external === true || imported.kind !== 'import-statement' || !imported.path.startsWith(outPrefix)) continue;
      const name = imported.path.slice(outPrefix.length);
      if (!seen.has(name)) {
        seen.add(name);
        queue.push(name);
      }
    }
  }
  return [...seen];
}

function packageOf(inputPath: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(inputPath);
  if (match?.[1] !== undefined) return match[1];
  return inputPath.split('/').slice(0, 2).join('/');
}

function topPackages(outputs: readonly MetafileOutput[]): { name: string; bytes: number }[] {
  const bytes = new Map<string, number>();
  for (const output of outputs) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const name = packageOf(path);
      bytes.set(name, (bytes.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...bytes].map(([name, total]) => ({ name, bytes: total })).sort((a, b) => b.bytes - a.bytes);
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/**
 * Cold path in a fresh process: spawn `node runner.mjs <handler> <spec>`, which imports the handler, invokes it
 * once and checks the answer. The parent times spawn → exit; the child reports its own import + invoke time.
 * Variants run interleaved (rotating order each round) so machine noise hits them alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { elapsedMs, median, summarize, type Summary } from './stats';

/** What the child prints on stdout, one JSON line. */
export interface ChildReport {
  /** ms from process start (performance.timeOrigin) to the first line of the runner: Node's own start-up. */
  bootMs: number;
  importMs: number;
  invokeMs: number;
  /** import + invoke, measured inside the child. */
  inProcessMs: number;
  status: number | undefined;
  body: string;
  ok: boolean;
}

export interface ColdRun {
  round: number;
  /** Spawn → exit as the parent sees it: the number that counts. */
  wallMs: number;
  child: ChildReport;
}

export interface ColdVariant {
  name: string;
  /** Absolute path of the handler module. */
  handlerPath: string;
  /** Built afresh for each run (a notification needs new ids each time). */
  spec(): { event: unknown; expect: { status: number; body?: string } };
  /** Extra check of a successful answer, e.g. "the notification was published"; returns a problem or undefined. */
  check?(child: ChildReport): string | undefined;
  /** Called around each measured run, e.g. to count the DynamoDB calls it made. */
  before?(): void;
  after?(run: ColdRun): void;
}

export interface ColdVariantResult {
  name: string;
  runs: ColdRun[];
  wall: Summary;
  inProcess: Summary;
  boot: Summary;
}

export interface ColdStartResult {
  rounds: number;
  warmupRounds: number;
  variants: ColdVariantResult[];
}

export class ColdRunError extends Error {
  override readonly name = 'ColdRunError';
}

const RUNNER = `// Written by bench/cold-start.ts: one cold invocation of a Lambda handler in a fresh process.
const bootMs = performance.now();
const [handlerUrl, specJson] = process.argv.slice(2);
const spec = JSON.parse(specJson);
const t0 = performance.now();
const mod = await import(handlerUrl);
const t1 = performance.now();
const result = await mod.handler(spec.event, {});
const t2 = performance.now();
const status = result?.statusCode;
const body = typeof result?.body === 'string' ? result.body : '';
const ok = status === spec.expect.status && (spec.expect.body === undefined || body === spec.expect.body);
process.stdout.write(JSON.stringify({ bootMs, importMs: t1 - t0, invokeMs: t2 - t1, inProcessMs: t2 - t0, status, body: body.slice(0, 500), ok }) + '\\n');
if (!ok) process.exitCode = 1;
`;

const BARE_HANDLER = 'export const handler = async () => ({ statusCode: 200 });\n';

/** Writes the runner and the bare handler into `dir`; returns their paths. */
export async function writeColdStartFiles(dir: string): Promise<{ runnerPath: string; bareHandlerPath: string }> {
  const runnerPath = join(dir, 'runner.mjs');
  const bareHandlerPath = join(dir, 'bare-handler.mjs');
  await writeFile(runnerPath, RUNNER);
  await writeFile(bareHandlerPath, BARE_HANDLER);
  return { runnerPath, bareHandlerPath };
}

/** Children currently running, so an interrupted bench can end them. */
const running = new Set<ChildProcess>();

export function killRunningChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

export async function runOnce(runnerPath: string, variant: ColdVariant, env: NodeJS.ProcessEnv, round: number, timeoutMs = 30_000): Promise<ColdRun> {
  const spec = JSON.stringify(variant.spec());
  const args = [runnerPath, pathToFileURL(variant.handlerPath).href, spec];
  let stdout = '';
  let stderr = '';
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let exitedAt = started;
  let exitCode: number | null = null;
  let signal: NodeJS.Signals | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code, sig) => {
        exitedAt = process.hrtime.bigint();
        exitCode = code;
        signal = sig;
      });
      // 'close' comes after 'exit' once stdio is drained.
      child.once('close', () => resolve());
    });
  } finally {
    clearTimeout(timer);
    running.delete(child);
  }
  const wallMs = elapsedMs(started, exitedAt);
  const what = `${variant.name} (round ${round})`;
  const line = stdout.trim().split('\n').pop() ?? '';
  let report: ChildReport;
  try {
    report = JSON.parse(line) as ChildReport;
  } catch {
    throw new ColdRunError(`${what}: child exited ${exitCode ?? signal} without a report; stderr: ${stderr.trim().slice(0, 800)}`);
  }
  if (exitCode !== 0 || !report.ok) {
    throw new ColdRunError(`${what}: wrong answer (exit ${exitCode ?? signal}, status ${report.status}, body ${JSON.stringify(report.body)}); stderr: ${stderr.trim().slice(0, 800)}`);
  }
  const problem = variant.check?.(report);
  if (problem !== undefined) throw new ColdRunError(`${what}: ${problem}`);
  return { round, wallMs, child: report };
}

export async function runColdStart(options: {
  runnerPath: string;
  variants: readonly ColdVariant[];
  env: NodeJS.ProcessEnv;
  rounds: number;
  warmupRounds: number;
  log: (line: string) => void;
}): Promise<ColdStartResult> {
  const { variants, rounds, warmupRounds, log } = options;
  const runs = new Map<string, ColdRun[]>(variants.map((v) => [v.name, []]));
  for (let round = -warmupRounds; round < rounds; round += 1) {
    // Rotate the order so no variant always runs right after another one (page cache, CPU frequency, GC in the parent).
    const offset = ((round % variants.length) + variants.length) % variants.length;
    const order = [...variants.slice(offset), ...variants.slice(0, offset)];
    for (const variant of order) {
      variant.before?.();
      const run = await runOnce(options.runnerPath, variant, options.env, round);
      if (round >= 0) {
        variant.after?.(run);
        runs.get(variant.name)?.push(run);
      }
    }
    if (round >= 0 && ((round + 1) % 5 === 0 || round + 1 === rounds)) {
      const medians = variants.map((v) => `${v.name} ${median((runs.get(v.name) ?? []).map((r) => r.wallMs)).toFixed(1)} ms`);
      log(`cold start: ${round + 1}/${rounds} rounds; median wall ${medians.join(', ')}`);
    } else if (round < 0) {
      log(`cold start: warm-up round ${round + warmupRounds + 1}/${warmupRounds}`);
    }
  }
  return {
    rounds,
    warmupRounds,
    variants: variants.map((v) => {
      const list = runs.get(v.name) ?? [];
      return {
        name: v.name,
        runs: list,
        wall: summarize(list.map((r) => r.wallMs)),
        inProcess: summarize(list.map((r) => r.child.inProcessMs)),
        boot: summarize(list.map((r) => r.child.bootMs)),
      };
    }),
  };
}

/** Ratio of each round's wall time to the same round's bare run: robust against slow drift of a noisy machine. */
export function pairedRatios(variant: ColdVariantResult, bare: ColdVariantResult): number[] {
  const bareByRound = new Map(bare.runs.map((r) => [r.round, r.wallMs]));
  return variant.runs.flatMap((r) => {
    const b = bareByRound.get(r.round);
    return b === undefined ? [] : [r.wallMs / b];
  });
}

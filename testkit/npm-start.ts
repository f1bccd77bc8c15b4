/**
 * The local stack as `npm start` runs it: `node --import tsx local/start.ts` in its own process, so the intake,
 * the HTTP adapter and the AWS emulator have that process's event loop to themselves and the caller (a bench, or the
 * reliability suite) is only the client. DynamoDB is the caller's DynamoDB Local, reached directly (no proxy in the
 * path).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DESCRIPTOR_FILE, readLocalStackDescriptor, type LocalStackDescriptor } from '../local/descriptor';
import { REPO_ROOT } from './repo-root';

export const NPM_START_ARGS = ['--import', 'tsx', 'local/start.ts'] as const;
export const NPM_START_COMMAND = `node ${NPM_START_ARGS.join(' ')}`;

/**
 * For a one-off investigation only, e.g. BENCH_NPM_START_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": extra
 * node flags (space-separated) put before `--import tsx`. Node 20 refuses --cpu-prof in NODE_OPTIONS, which the
 * child does not get anyway (removed, as for the cold-start children). The report says when they were used.
 */
export const CHILD_NODE_ARGS_VARIABLE = 'BENCH_NPM_START_NODE_ARGS';

export interface NpmStartStack {
  descriptor: LocalStackDescriptor;
  pid: number;
  /** spawn → "listening" line. */
  startupMs: number;
  /** What `npm start` was given beyond the caller's environment without NODE_* (for the record). */
  env: Record<string, string>;
  /** Extra node flags from BENCH_NPM_START_NODE_ARGS; empty for a measurement. */
  extraNodeArgs: string[];
  /** False once the child has exited (crashed, or stopped). */
  running(): boolean;
  /** SIGTERM, then wait for the exit (SIGKILL after `timeoutMs`); idempotent. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL at once, as a region that goes away does: no cleanup, no answer to requests in flight. */
  kill(): Promise<void>;
}

export class NpmStartError extends Error {
  override readonly name = 'NpmStartError';
}

/** The caller's environment without NODE_* (NODE_EXTRA_CA_CERTS, NODE_OPTIONS…), plus what `npm start` reads. */
export function npmStartEnvironment(base: NodeJS.ProcessEnv, settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) if (!/^NODE_/.test(name) && name !== CHILD_NODE_ARGS_VARIABLE) env[name] = value;
  return Object.assign(env, settings);
}

export async function startNpmStart(options: {
  dataDir: string;
  dynamodbEndpoint: string;
  /** The environment to start from: the caller's own, as it was before it started anything. */
  baseEnv: NodeJS.ProcessEnv;
  log: (line: string) => void;
  readyTimeoutMs?: number;
  /** Settings over these defaults, e.g. POWERTOOLS_LOG_LEVEL or GRAPH_RELAY_QUIET for a suite that reads the logs. */
  settings?: Record<string, string>;
  /** Every chunk the child writes, in order (the reliability suite keeps its whole output). */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}): Promise<NpmStartStack> {
  const settings: Record<string, string> = {
    PORT: '0',
    GRAPH_RELAY_DATA_DIR: options.dataDir,
    GRAPH_RELAY_DYNAMODB_ENDPOINT: options.dynamodbEndpoint,
    GRAPH_RELAY_QUIET: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...options.settings,
  };
  const env = npmStartEnvironment(options.baseEnv, settings);
  const extraNodeArgs = (options.baseEnv[CHILD_NODE_ARGS_VARIABLE] ?? '').split(/\s+/).filter((a) => a !== '');
  const started = performance.now();
  const child = spawn(process.execPath, [...extraNodeArgs, ...NPM_START_ARGS], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
  });
  // Keep both pipes drained for the child's whole life; keep only the tail of stderr for error messages.
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout = (stdout + text).slice(-8192);
    options.onOutput?.('stdout', text);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr = (stderr + text).slice(-8192);
    options.onOutput?.('stderr', text);
  });
  // Last resort if the caller dies without reaching its cleanup: the child stops its own stack on SIGTERM.
  const onExit = () => {
    if (exit === undefined) child.kill('SIGTERM');
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 15_000): Promise<void> => {
    stopping ??= (async () => {
      if (exit === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', onExit);
      const leftover = join(options.dataDir, DESCRIPTOR_FILE);
      if (exit?.code !== 0) options.log(`npm start child (pid ${child.pid}) ended with ${exit?.code ?? exit?.signal}; stderr: ${tail(stderr)}`);
      else if (existsSync(leftover)) options.log(`npm start child stopped but left ${leftover} behind`);
    })();
    return stopping;
  };

  try {
    const url = await listening(child, () => stdout, () => exit, exited, options.readyTimeoutMs ?? 60_000);
    const startupMs = performance.now() - started;
    const descriptor = await readLocalStackDescriptor(options.dataDir);
    if (descriptor.intakeUrl !== url) throw new NpmStartError(`the descriptor's intake URL ${descriptor.intakeUrl} is not the announced ${url}`);
    if (descriptor.pid !== child.pid) throw new NpmStartError(`the descriptor names pid ${descriptor.pid}, the child is ${child.pid}`);
    if (descriptor.dynamodbEndpoint !== options.dynamodbEndpoint) {
      throw new NpmStartError(`the child uses DynamoDB at ${descriptor.dynamodbEndpoint}, not ${options.dynamodbEndpoint}`);
    }
    const kill = async (): Promise<void> => {
      if (exit === undefined) child.kill('SIGKILL');
      await exited;
      process.removeListener('exit', onExit);
    };
    return { descriptor, pid: child.pid ?? -1, startupMs, env: { ...settings }, extraNodeArgs, running: () => exit === undefined, stop, kill };
  } catch (error) {
    await stop(5_000);
    const message = error instanceof Error ? error.message : String(error);
    throw new NpmStartError(`\`${NPM_START_COMMAND}\` did not start: ${message}; stderr: ${tail(stderr)}`);
  }
}

function tail(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.length === 0 ? '(empty)' : lines.slice(-5).join(' | ');
}

/** Resolves with the URL of `graph-relay listening on <url>` on the child's stdout. */
async function listening(
  child: ChildProcess,
  stdout: () => string,
  exit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
  exited: Promise<void>,
  timeoutMs: number,
): Promise<string> {
  const pattern = /^graph-relay listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m;
  return new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(stdout());
      if (match === null) return;
      done();
      resolve(match[1] as string);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "graph-relay listening on …" line within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.stdout?.removeListener('data', check);
    };
    // Registered after the collecting listener, so stdout() already holds the chunk.
    child.stdout?.on('data', check);
    void exited.then(() => {
      const status = exit();
      done();
      reject(new Error(`the child exited (${status?.code ?? status?.signal}) before listening`));
    });
    check();
  });
}

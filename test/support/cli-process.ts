/** The real `graph-relay` process (bin/graph-relay.mjs), run as an operator would. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI_BIN = resolve(__dirname, '../../bin/graph-relay.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with `args`, the caller's environment minus every `AWS_*` variable (so nothing reaches a real
 * account) and minus `options.unset`, plus `env`, and `stdin` as its input (empty by default: at its end at once, as
 * with </dev/null), in `options.cwd` (default: this process's).
 */
export function runCli(args: readonly string[], env: Record<string, string>, stdin = '', options: { cwd?: string; unset?: readonly string[] } = {}): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && !(options.unset ?? []).includes(name)));
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: options.cwd, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

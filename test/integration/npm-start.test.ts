import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readLocalStackDescriptor } from '../../local/descriptor';
import { startGraphFake } from '../../testkit/graph-fake';
import { runCli as runCliProcess } from '../support/cli-process';

const ROOT = resolve(__dirname, '..', '..');

/** Runs the local stack exactly as `npm start` does, in its own process (under `umask` when given, through sh). */
function startLocalStackProcess(env: NodeJS.ProcessEnv, umask?: string): { child: ChildProcess; listening: Promise<string>; exited: Promise<number | null>; stderr: () => string } {
  const command: [string, string[]] =
    umask === undefined
      ? [process.execPath, ['--import', 'tsx', 'local/start.ts']]
      : ['/bin/sh', ['-c', `umask ${umask} && exec "$0" --import tsx local/start.ts`, process.execPath]];
  const child = spawn(command[0], command[1], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'pipe' });
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

/** Runs the CLI against the local stack of `dataDir`; resolves with its exit code and output. */
function runCli(dataDir: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const cli = spawn(process.execPath, ['bin/graph-relay.mjs', '--local', ...args], { cwd: ROOT, env: { ...process.env, GRAPH_RELAY_DATA_DIR: dataDir }, stdio: 'pipe' });
  let output = '';
  cli.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  cli.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolveRun) => cli.once('exit', (code) => resolveRun({ code, output })));
}

/** Probes until `done` holds; gives up after a generous while with the last value seen. */
async function eventually<T>(what: string, probe: () => T, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const value = probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
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
  }, 120_000);

  it('creates and deletes the Graph subscriptions of connections the CLI adds and removes, from the table stream alone', async () => {
    // Prepare: a Graph fake, and no scheduled reconcile that could do the work instead
    const app = { clientId: randomUUID(), clientSecret: 'npm-start-stream-secret~0123456789' };
    const fake = await startGraphFake({ apps: [app], validationTimeoutMs: 5_000 });
    const tenantId = randomUUID();
    const stack = startLocalStackProcess({
      PORT: '0',
      GRAPH_RELAY_DATA_DIR: dataDir,
      GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '0',
      GRAPH_API_URL: fake.url,
      GRAPH_LOGIN_URL: fake.loginUrl,
    });
    const atGraph = () => fake.subscriptions(tenantId, { includeEnded: true }).map((s) => `${s.resource} ${s.changeType} ${s.state}`);
    try {
      await stack.listening;
      const integration = await runCli(dataDir, ['integrations', 'put', 'contoso', '--webhook-secret', 'npm-start-webhook-secret-0123456789', '--client-id', app.clientId, '--client-secret', app.clientSecret]);

      // Act
      const added = await runCli(dataDir, ['connections', 'add', 'contoso', 'conn-1', '--tenant-id', tenantId, '--subscribe', 'users:created,updated']);
      const created = await eventually('the subscription at Graph', atGraph, (seen) => seen.includes('users created,updated active'));
      const removed = await runCli(dataDir, ['connections', 'remove', 'contoso', 'conn-1']);
      const deleted = await eventually('its deletion', atGraph, (seen) => seen.length > 0 && seen.every((entry) => entry.endsWith(' deleted')));
      stack.child.kill('SIGTERM');
      const code = await stack.exited;

      // Assess
      expect([integration.code, added.code, removed.code]).toEqual([0, 0, 0]);
      expect(created).toEqual(['users created,updated active']);
      expect(deleted).toEqual(['users created,updated deleted']);
      expect(stack.stderr()).toContain('reconciling connection changes from the connections table stream');
      expect(stack.stderr()).toContain('reconcile (stream): 1 record, 1 connection reconciled');
      expect(stack.stderr()).not.toMatch(/^reconcile: /m);
      expect(code).toBe(0);
    } finally {
      stack.child.kill('SIGKILL');
      await fake.close();
    }
  }, 120_000);

  it('keeps secrets and keys owner-only under umask 000: data directory 0700 (narrowed), every file holding them 0600', async () => {
    // Prepare: a data directory someone left open, and a umask that would make new files world-writable
    await chmod(dataDir, 0o777);
    const stack = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' }, '000');
    const mode = async (name: string) => ((await stat(join(dataDir, name))).mode & 0o777).toString(8);
    try {
      const url = await stack.listening;
      const env = { GRAPH_RELAY_DATA_DIR: dataDir };

      // Act: a webhook secret from stdin, a private key from certificates create, and a delivered event
      const put = await runCliProcess(['--local', 'integrations', 'put', 'private', '--webhook-secret', '-'], env, 'private-webhook-secret-0123\n');
      const certificate = await runCliProcess(['--local', 'certificates', 'create', 'private'], env);
      const posted = await fetch(`${url}/webhook/private`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          value: [{ subscriptionId: 'b4a5d7f2-1111-4c4c-9c9c-000000000002', tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95', clientState: 'private-webhook-secret-0123', changeType: 'updated', resource: 'Users/x' }],
        }),
      });
      const running = { dir: await mode('.'), dynamodb: await mode('dynamodb'), descriptor: await mode('local-stack.json'), secrets: await mode('secrets.json'), events: await mode('events.ndjson') };
      const secrets = await readFile(join(dataDir, 'secrets.json'), 'utf8');
      stack.child.kill('SIGTERM');
      const code = await stack.exited;

      // Assess
      expect([put.code, certificate.code, posted.status, code]).toEqual([0, 0, 202, 0]);
      expect(secrets).toContain('private-webhook-secret-0123');
      expect(secrets).toContain('PRIVATE KEY');
      expect(running).toEqual({ dir: '700', dynamodb: '700', descriptor: '600', secrets: '600', events: '600' });
      expect(await mode('secrets.json')).toBe('600');
      expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    } finally {
      stack.child.kill('SIGKILL');
    }
  }, 120_000);

  it('refuses a second npm start on the same data directory, naming the running stack, and leaves the first one running and findable', async () => {
    // Prepare
    const first = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' });
    try {
      const url = await first.listening;
      const descriptor = await readLocalStackDescriptor(dataDir);

      // Act
      const second = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_QUIET: 'true' });
      const outcome = await second.listening.then(
        (listening) => ({ listening }),
        async () => ({ code: await second.exited }),
      );
      if ('listening' in outcome) {
        second.child.kill('SIGTERM');
        await second.exited;
      }
      const listed = await runCli(dataDir, ['connections', 'list']);

      // Assess
      expect(outcome).toEqual({ code: 1 });
      const refusal = second.stderr().trim();
      expect(refusal.split('\n')).toHaveLength(1);
      expect(refusal).toContain(`graph-relay: a local stack already runs on ${dataDir} (pid ${descriptor.pid}, intake ${url}`);
      expect(refusal).toContain(`started ${descriptor.startedAt}`);
      expect(refusal).not.toContain('starting DynamoDB Local');
      expect(await readLocalStackDescriptor(dataDir)).toEqual(descriptor);
      expect(listed.code).toBe(0);
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    expect(existsSync(join(dataDir, 'local-stack.lock'))).toBe(false);
  });

  it('refuses a GRAPH_RELAY_CONNECTIONS_STREAM other than true or false, with exit code 2', async () => {
    // Act
    const stack = startLocalStackProcess({ PORT: '0', GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_RELAY_CONNECTIONS_STREAM: 'yes' });
    const code = await stack.exited;
    await stack.listening.catch(() => undefined);
    // Assess
    expect(code).toBe(2);
    expect(stack.stderr()).toContain('GRAPH_RELAY_CONNECTIONS_STREAM must be true or false, got "yes"');
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

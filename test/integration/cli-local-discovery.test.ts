/** The real CLI finds the local stack from a subfolder of the project, as git finds its repository. */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLocalStackDescriptor } from '../../local/descriptor';
import { CLI_BIN, type CliResult } from '../support/cli-process';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'graph-relay-discovery-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The CLI run in `cwd`, with neither GRAPH_RELAY_DATA_DIR nor any AWS_* variable. */
function runCliIn(cwd: string, args: readonly string[]): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && name !== 'GRAPH_RELAY_DATA_DIR'));
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd, env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('graph-relay --local, run outside the project root', () => {
  it("finds the stack of the project's .graph-relay from a subfolder", async () => {
    // Prepare: a running stack's descriptor (this test's own pid: alive) at the project root
    const dataDir = join(root, '.graph-relay');
    await mkdir(dataDir, { recursive: true });
    await writeLocalStackDescriptor(dataDir, {
      pid: process.pid,
      region: 'eu-west-1',
      intakeUrl: 'http://127.0.0.1:3000',
      webhookBaseUrl: 'http://127.0.0.1:3000/webhook/',
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      awsEmulatorEndpoint: 'http://127.0.0.1:4566',
      connectionsTable: 'local-connections',
      deliveriesTable: 'local-deliveries',
      eventBusName: 'local-bus',
      eventSource: 'graph-relay',
      webhookSecretPrefix: 'graph-relay/local/integrations/',
      eventsFile: join(dataDir, 'events.ndjson'),
      startedAt: '2026-12-05T12:00:00.000Z',
    });
    const sub = join(root, 'functions', 'intake');
    await mkdir(sub, { recursive: true });

    // Act
    const result = await runCliIn(sub, ['--local', 'events', 'tail']);

    // Assess
    expect(result).toEqual({ code: 0, stdout: '', stderr: `graph-relay: no events yet in ${join(dataDir, 'events.ndjson')}\n` });
  });

  it('says which directories it looked in when no stack runs', async () => {
    // Prepare
    const sub = join(root, 'a');
    await mkdir(sub);

    // Act
    const result = await runCliIn(sub, ['--local', 'connections', 'list']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^graph-relay: the local stack is not running: no \\.graph-relay/local-stack\\.json in ${sub}, ${root}, .*, /; start it with: npm start`));
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

/** The real CLI finds the local stack from a subfolder of the project, as git finds its repository. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLocalStackDescriptor } from '../../local/descriptor';
import { runCli, type CliResult } from '../support/cli-process';
import { sampleLocalStackDescriptor } from '../support/local-descriptor';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'graph-relay-discovery-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The CLI run in `cwd`, with neither GRAPH_RELAY_DATA_DIR nor any AWS_* variable. */
function runCliIn(cwd: string, args: readonly string[]): Promise<CliResult> {
  return runCli(args, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, '', { cwd, unset: ['GRAPH_RELAY_DATA_DIR'] });
}

describe('graph-relay --local, run outside the project root', () => {
  it("finds the stack of the project's .graph-relay from a subfolder", async () => {
    // Prepare: a running stack's descriptor (this test's own pid: alive) at the project root
    const dataDir = join(root, '.graph-relay');
    await mkdir(dataDir, { recursive: true });
    await writeLocalStackDescriptor(dataDir, sampleLocalStackDescriptor({ eventsFile: join(dataDir, 'events.ndjson') }));
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

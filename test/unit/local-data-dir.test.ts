/** How the CLI finds the running local stack: GRAPH_RELAY_DATA_DIR, else the nearest `.graph-relay` up from the working directory. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findLocalDataDir, LocalStackNotRunningError, writeLocalStackDescriptor } from '../../local/descriptor';
import { sampleLocalStackDescriptor } from '../support/local-descriptor';

/** A running stack's data directory, as npm start leaves it. */
async function runningStackIn(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeLocalStackDescriptor(dataDir, descriptor);
}

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'graph-relay-find-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const descriptor = sampleLocalStackDescriptor();

/** Every directory from `start` up to the filesystem root. */
function upFrom(start: string): string[] {
  const found = [start];
  while (dirname(found[found.length - 1] ?? '/') !== found[found.length - 1]) found.push(dirname(found[found.length - 1] ?? '/'));
  return found;
}

describe('findLocalDataDir', () => {
  it('finds the stack of a parent directory from a subfolder, as git finds its repository', async () => {
    // Prepare
    await runningStackIn(join(root, '.graph-relay'));
    const sub = join(root, 'functions', 'intake');
    await mkdir(sub, { recursive: true });

    // Act
    const found = findLocalDataDir({}, sub);

    // Assess
    expect(found).toBe(join(root, '.graph-relay'));
  });

  it('takes the nearest one when several directories up the way have one', async () => {
    // Prepare
    await runningStackIn(join(root, '.graph-relay'));
    await runningStackIn(join(root, 'nested', '.graph-relay'));
    const sub = join(root, 'nested', 'deeper');
    await mkdir(sub, { recursive: true });

    // Act
    const found = findLocalDataDir({}, sub);

    // Assess
    expect(found).toBe(join(root, 'nested', '.graph-relay'));
  });

  it('skips a .graph-relay without a descriptor (a stopped stack of another project level)', async () => {
    // Prepare
    await runningStackIn(join(root, '.graph-relay'));
    await mkdir(join(root, 'sub', '.graph-relay'), { recursive: true });

    // Act
    const found = findLocalDataDir({}, join(root, 'sub'));

    // Assess
    expect(found).toBe(join(root, '.graph-relay'));
  });

  it('lets GRAPH_RELAY_DATA_DIR win, resolved against the working directory', async () => {
    // Prepare
    await runningStackIn(join(root, '.graph-relay'));

    // Act
    const found = findLocalDataDir({ GRAPH_RELAY_DATA_DIR: 'elsewhere' }, root);

    // Assess
    expect(found).toBe(join(root, 'elsewhere'));
  });

  it('says every directory it looked in when no stack is found', async () => {
    // Prepare
    const sub = join(root, 'a', 'b');
    await mkdir(sub, { recursive: true });

    // Act
    let error: unknown;
    try {
      findLocalDataDir({}, sub);
    } catch (thrown) {
      error = thrown;
    }

    // Assess
    expect(error).toBeInstanceOf(LocalStackNotRunningError);
    expect((error as Error).message).toBe(
      `the local stack is not running: no .graph-relay/local-stack.json in ${upFrom(sub).join(', ')}; start it with: npm start (or set GRAPH_RELAY_DATA_DIR to its data directory)`,
    );
  });
});

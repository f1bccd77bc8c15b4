/** One local stack per data directory: the lock `npm start` takes before starting anything, and what it leaves alone. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DESCRIPTOR_FILE,
  LOCK_FILE,
  LocalStackRunningError,
  acquireLocalStackLock,
  removeLocalStackDescriptor,
  writeLocalStackDescriptor,
} from '../../local/descriptor';
import { sampleLocalStackDescriptor } from '../support/local-descriptor';

const ROOT = resolve(__dirname, '..', '..');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'graph-relay-lock-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const descriptor = sampleLocalStackDescriptor;

/** The pid of a process that has exited: what a stack killed with SIGKILL leaves in its lock. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid;
}

describe('acquireLocalStackLock', () => {
  it('refuses a second stack on the same data directory while the first holds it, naming its pid, ports and start time', async () => {
    // Prepare
    const first = acquireLocalStackLock(dir);
    await writeLocalStackDescriptor(dir, descriptor());

    // Act
    let refused: unknown;
    try {
      acquireLocalStackLock(dir);
    } catch (error) {
      refused = error;
    }
    first.release();

    // Assess
    expect(refused).toBeInstanceOf(LocalStackRunningError);
    const message = (refused as Error).message;
    expect(message).toContain(`a local stack already runs on ${dir}`);
    expect(message).toContain(`pid ${process.pid}`);
    expect(message).toContain('http://127.0.0.1:3000');
    expect(message).toContain('http://127.0.0.1:8000');
    expect(message).toContain('http://127.0.0.1:4566');
    expect(message).toContain('started 2026-12-05T12:00:00.000Z');
    expect(message).not.toContain('\n');
  });

  it('says a stack is starting when the holder has not written its descriptor yet', () => {
    // Prepare
    const first = acquireLocalStackLock(dir);

    // Act
    const act = () => acquireLocalStackLock(dir);

    // Assess
    expect(act).toThrow(new RegExp(`a local stack is starting on ${dir} \\(pid ${process.pid}, since `));
    first.release();
  });

  it('takes the lock again once the holder released it', () => {
    // Prepare
    acquireLocalStackLock(dir).release();

    // Act
    const second = acquireLocalStackLock(dir);

    // Assess
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    second.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('is not blocked by a stale lock whose process is gone', async () => {
    // Prepare
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startedAt: '2026-12-01T00:00:00.000Z', token: 'stale' }));

    // Act
    const lock = acquireLocalStackLock(dir);

    // Assess
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('is not blocked by a lock file that is not a lock (hand-edited, truncated)', async () => {
    // Prepare
    await writeFile(join(dir, LOCK_FILE), '');

    // Act
    const lock = acquireLocalStackLock(dir);

    // Assess
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('releases only the lock it took, never one another stack holds now', async () => {
    // Prepare: our lock was broken as stale and another stack took the directory
    const lock = acquireLocalStackLock(dir);
    const other = JSON.stringify({ pid: process.pid, startedAt: '2026-12-05T13:00:00.000Z', token: 'someone-else' });
    await writeFile(join(dir, LOCK_FILE), other);

    // Act
    lock.release();

    // Assess
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });

  it.each([
    ['an empty data directory', false],
    ['a data directory with a stale lock', true],
  ])('lets exactly one of several racing starts win, from %s', async (_label, stale) => {
    // Prepare
    if (stale) await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startedAt: '2026-12-01T00:00:00.000Z', token: 'stale' }));
    const script = `
      const { acquireLocalStackLock } = await import(${JSON.stringify(join(ROOT, 'local/descriptor.ts'))});
      let result;
      try { acquireLocalStackLock(process.argv[1]); result = 'won'; } catch (error) { result = error.name; }
      process.stdout.write(result + '\\n');
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));`;
    const racers = Array.from({ length: 4 }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], { cwd: ROOT, stdio: 'pipe' }));

    // Act: each keeps its lock until every one has answered, as a running stack would
    const results = await Promise.all(
      racers.map(
        (racer) =>
          new Promise<string>((done) => {
            let out = '';
            racer.stdout.on('data', (chunk: Buffer) => {
              out += chunk.toString();
              if (out.includes('\n')) done(out.trim());
            });
            racer.once('exit', () => done(out.trim()));
          }),
      ),
    );
    await Promise.all(racers.map((racer) => new Promise((done) => { racer.once('exit', done); racer.stdin.end(); })));

    // Assess
    expect(results.filter((result) => result === 'won')).toHaveLength(1);
    expect(results.filter((result) => result === 'LocalStackRunningError')).toHaveLength(3);
  }, 60_000);
});

describe('removeLocalStackDescriptor', () => {
  it('removes the descriptor the stack wrote', async () => {
    // Prepare
    const mine = descriptor();
    await writeLocalStackDescriptor(dir, mine);

    // Act
    await removeLocalStackDescriptor(dir, mine);

    // Assess
    expect(existsSync(join(dir, DESCRIPTOR_FILE))).toBe(false);
  });

  it("leaves another stack's descriptor where it is", async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, descriptor({ pid: process.pid + 1, startedAt: '2026-12-05T13:00:00.000Z' }));

    // Act
    await removeLocalStackDescriptor(dir, descriptor());

    // Assess
    expect(JSON.parse(await readFile(join(dir, DESCRIPTOR_FILE), 'utf8'))).toMatchObject({ pid: process.pid + 1 });
  });
});

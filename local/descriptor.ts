import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ensurePrivateDir, writePrivateFile } from './private-files';

/**
 * What `npm start` writes to `<data-dir>/local-stack.json` while it runs, so the CLI (`graph-relay --local`) and
 * tests find the running local stack. Removed when the stack stops.
 */
export const localStackDescriptorSchema = z.object({
  pid: z.number().int(),
  region: z.string(),
  intakeUrl: z.url(),
  webhookBaseUrl: z.url(),
  dynamodbEndpoint: z.url(),
  awsEmulatorEndpoint: z.url(),
  connectionsTable: z.string(),
  deliveriesTable: z.string(),
  eventBusName: z.string(),
  eventSource: z.string(),
  webhookSecretPrefix: z.string(),
  /**
   * Bucket of the full detail of events too large for the bus (their `detail.payloadRef`), on the emulator's S3
   * endpoint (path-style). Locally its objects are kept: there is no lifecycle expiry. Optional: older stacks had none.
   */
  payloadBucket: z.string().optional(),
  /** The resync queue (SQS on the emulator); absent when the stack runs without resync. */
  resyncQueueUrl: z.string().optional(),
  /** Seconds between scheduled renewal runs, 0 when disabled (`graph-relay doctor` checks it). Optional: older stacks had none. */
  renewalIntervalSeconds: z.number().int().nonnegative().optional(),
  /** The Graph writer lease: `on` when this stack is one region of two sharing the connections table. Optional: older stacks had none (off). */
  writerLease: z.enum(['on', 'off']).optional(),
  /** Seconds between the writer lease's heartbeats, when it is on. */
  leaseHeartbeatSeconds: z.number().int().positive().optional(),
  /** The lease's own table, when it has one (GRAPH_RELAY_WRITER_LEASE_TABLE); absent: the connections table. */
  writerLeaseTable: z.string().optional(),
  eventsFile: z.string(),
  startedAt: z.string(),
});

export type LocalStackDescriptor = z.infer<typeof localStackDescriptorSchema>;

export const DESCRIPTOR_FILE = 'local-stack.json';

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** `GRAPH_RELAY_DATA_DIR`, default `./.graph-relay`, resolved against the working directory. */
export function dataDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['GRAPH_RELAY_DATA_DIR'] || '.graph-relay');
}

export class LocalStackNotRunningError extends Error {
  override readonly name = 'LocalStackNotRunningError';
}

/**
 * The data directory of the running local stack, for the CLI: `GRAPH_RELAY_DATA_DIR` when set, else the nearest
 * `.graph-relay` holding a descriptor from `cwd` up to the filesystem root (as git finds its repository), so a
 * subfolder or a second terminal finds the stack `npm start` runs at the project root.
 * @throws LocalStackNotRunningError naming every directory looked in.
 */
export function findLocalDataDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  if (env['GRAPH_RELAY_DATA_DIR']) return resolve(cwd, env['GRAPH_RELAY_DATA_DIR']);
  const looked: string[] = [];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    looked.push(dir);
    if (existsSync(join(dir, '.graph-relay', DESCRIPTOR_FILE))) return join(dir, '.graph-relay');
    if (dirname(dir) === dir) break;
  }
  throw new LocalStackNotRunningError(
    `the local stack is not running: no .graph-relay/${DESCRIPTOR_FILE} in ${looked.join(', ')}; start it with: npm start (or set GRAPH_RELAY_DATA_DIR to its data directory)`,
  );
}

export async function readLocalStackDescriptor(dataDir: string): Promise<LocalStackDescriptor> {
  const file = join(dataDir, DESCRIPTOR_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new LocalStackNotRunningError(`the local stack is not running (no ${file}); start it with: npm start`);
  }
  let parsed;
  try {
    parsed = localStackDescriptorSchema.safeParse(JSON.parse(text));
  } catch {
    throw new LocalStackNotRunningError(`${file} is not valid JSON; restart the local stack with: npm start`);
  }
  if (!parsed.success) throw new LocalStackNotRunningError(`${file} is not a local stack descriptor; restart with: npm start`);
  if (!isAlive(parsed.data.pid)) {
    throw new LocalStackNotRunningError(`the local stack recorded in ${file} (pid ${parsed.data.pid}) is not running; start it with: npm start`);
  }
  return parsed.data;
}

/** Owner only, like the data directory: the CLI trusts it to say which endpoints hold the secrets. */
export async function writeLocalStackDescriptor(dataDir: string, descriptor: LocalStackDescriptor): Promise<void> {
  writePrivateFile(join(dataDir, DESCRIPTOR_FILE), `${JSON.stringify(descriptor, null, 2)}\n`);
}

/** Removes the descriptor only while it is still this stack's: another stack's stays for the CLI to find. */
export async function removeLocalStackDescriptor(dataDir: string, descriptor: LocalStackDescriptor): Promise<void> {
  const file = join(dataDir, DESCRIPTOR_FILE);
  const current = await readFile(file, 'utf8').then(
    (text) => parseJson(text, localStackDescriptorSchema),
    () => undefined,
  );
  if (current?.pid === descriptor.pid && current.startedAt === descriptor.startedAt) await rm(file, { force: true });
}

/**
 * Held by the `npm start` that owns the data directory: two DynamoDB Locals on the same files would corrupt them,
 * and the second stack's stop would delete the first one's descriptor.
 */
export const LOCK_FILE = 'local-stack.lock';

const lockSchema = z.object({ pid: z.number().int(), startedAt: z.string(), token: z.string() });

type LockHolder = z.infer<typeof lockSchema>;

export class LocalStackRunningError extends Error {
  override readonly name = 'LocalStackRunningError';
}

export interface LocalStackLock {
  /** Deletes the lock if it is still this one's; synchronous, so it can run in a process 'exit' handler. */
  release(): void;
}

/** A lock whose process is gone (killed, crashed) or that is not a lock at all is taken over. */
const LOCK_ATTEMPTS = 5;

/**
 * Takes `<dataDir>/local-stack.lock` before anything starts. The lock is written whole under a name of its own,
 * then hard-linked into place: link() fails when the name exists, so of two starts racing only one wins, and no
 * reader ever sees a half-written lock.
 * @throws LocalStackRunningError naming the stack that holds the directory.
 */
export function acquireLocalStackLock(dataDir: string): LocalStackLock {
  ensurePrivateDir(dataDir);
  const file = join(dataDir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, startedAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const staged = `${file}.${mine.token}`;
  writePrivateFile(staged, `${JSON.stringify(mine)}\n`);
  try {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt += 1) {
      try {
        linkSync(staged, file);
        return { release: () => releaseLock(file, mine.token) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readLock(file);
      if (holder !== undefined && isAlive(holder.pid)) throw runningError(dataDir, holder);
      takeOverStaleLock(dataDir, file, mine.token);
    }
    throw new LocalStackRunningError(`could not take ${file}: other starts keep taking it; try again`);
  } finally {
    rmSync(staged, { force: true });
  }
}

/**
 * Moves the stale lock aside rather than deleting it by name: a racing start may have replaced it with a live lock
 * since it was read, and that one is put back.
 */
function takeOverStaleLock(dataDir: string, file: string, token: string): void {
  const aside = `${file}.${token}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const moved = readLock(aside);
    if (moved !== undefined && isAlive(moved.pid)) {
      try {
        linkSync(aside, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      throw runningError(dataDir, moved);
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

function releaseLock(file: string, token: string): void {
  if (readLock(file)?.token === token) rmSync(file, { force: true });
}

/** Undefined when the file is gone or holds no lock. */
function readLock(file: string): LockHolder | undefined {
  try {
    return parseJson(readFileSync(file, 'utf8'), lockSchema);
  } catch {
    return undefined;
  }
}

/** One line naming the stack that holds the directory, from its descriptor once it has written one. */
function runningError(dataDir: string, holder: LockHolder): LocalStackRunningError {
  const what = 'stop it first (Ctrl-C in its terminal), or set GRAPH_RELAY_DATA_DIR to another directory';
  let descriptor: LocalStackDescriptor | undefined;
  try {
    descriptor = parseJson(readFileSync(join(dataDir, DESCRIPTOR_FILE), 'utf8'), localStackDescriptorSchema);
  } catch {
    descriptor = undefined;
  }
  if (descriptor?.pid !== holder.pid) {
    return new LocalStackRunningError(`a local stack is starting on ${dataDir} (pid ${holder.pid}, since ${holder.startedAt}): ${what}`);
  }
  return new LocalStackRunningError(
    `a local stack already runs on ${dataDir} (pid ${descriptor.pid}, intake ${descriptor.intakeUrl}, DynamoDB ${descriptor.dynamodbEndpoint}, ` +
      `emulator ${descriptor.awsEmulatorEndpoint}, started ${descriptor.startedAt}): ${what}`,
  );
}

function parseJson<S extends z.ZodType>(text: string, schema: S): z.output<S> | undefined {
  try {
    return schema.safeParse(JSON.parse(text)).data;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

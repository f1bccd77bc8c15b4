import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { writePrivateFile } from './private-files';

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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

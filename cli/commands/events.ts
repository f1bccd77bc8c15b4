import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { parseArg, warn, type Output } from '../output';

export const DEFAULT_TAIL_LIMIT = 20;

/** Polling, unlike fs.watch, also notices a file that is created or replaced after the tail started. */
const FOLLOW_POLL_MS = 250;
const READ_CHUNK_BYTES = 64 * 1024;
const SHORT_KEY_LENGTH = 12;
const DETAIL_TYPE_WIDTH = Math.max(...Object.values(DETAIL_TYPES).map((type) => type.length));

const limitSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,5}$/, 'must be a whole number from 1 to 999999')
  .transform(Number);

/** The fields a tail line shows, of an event as a rule target receives it (what the local stack appends). */
const eventLineSchema = z
  .object({
    time: z.string(),
    'detail-type': z.string(),
    detail: z
      .object({
        providerConfigKey: z.string(),
        connectionId: z.string().nullable(),
        metadata: z.object({ idempotencyKey: z.string() }).loose(),
      })
      .loose(),
  })
  .loose();

type EventLine = z.infer<typeof eventLineSchema>;

export interface TailEventsOptions {
  limit: string;
  follow?: boolean;
  json?: boolean;
}

export interface TailEventsArgs {
  limit: number;
  follow: boolean;
  json: boolean;
}

export function parseTailEventsArgs(options: TailEventsOptions): TailEventsArgs {
  return { limit: parseArg(limitSchema, options.limit, '--limit'), follow: options.follow === true, json: options.json === true };
}

/** Prints the last events of the local stack's events file, then with `follow` every appended one until `signal`. */
export async function tailEvents(file: string, args: TailEventsArgs, output: Output, signal?: AbortSignal): Promise<void> {
  const { limit } = args;
  const print = (text: string, lineNumber: number) => printEvent(output, file, text, lineNumber, args.json);

  const last: { text: string; lineNumber: number }[] = [];
  const cursor: Cursor = { offset: 0, lineNumber: 0 };
  await readNewLines(file, cursor, (text, lineNumber) => {
    last.push({ text, lineNumber });
    if (last.length > limit) last.shift();
  });
  last.forEach(({ text, lineNumber }) => print(text, lineNumber));

  if (!args.follow) {
    if (cursor.lineNumber === 0) output.err(`graph-relay: no events yet in ${file}`);
    return;
  }
  if (!args.json) output.err(`graph-relay: following ${file} (Ctrl-C to stop)`);
  while (await pause(signal)) await readNewLines(file, cursor, print);
}

function printEvent(output: Output, file: string, text: string, lineNumber: number, json: boolean): void {
  let event: EventLine | undefined;
  try {
    event = eventLineSchema.safeParse(JSON.parse(text)).data;
  } catch {
    event = undefined;
  }
  if (event === undefined) {
    warn(output, `skipped line ${lineNumber} of ${file}: not a graph-relay event`);
    return;
  }
  if (json) output.out(text);
  else output.out(formatEvent(event));
}

export function formatEvent(event: EventLine): string {
  return [
    event.time,
    event['detail-type'].padEnd(DETAIL_TYPE_WIDTH),
    event.detail.providerConfigKey,
    event.detail.connectionId ?? '-',
    event.detail.metadata.idempotencyKey.slice(0, SHORT_KEY_LENGTH),
  ].join('  ');
}

/** Position after the last complete line read, so a line being appended is read once it is whole. */
interface Cursor {
  offset: number;
  lineNumber: number;
}

/** Calls `onLine` for each complete, non-blank line after the cursor; a missing file has no lines yet. */
async function readNewLines(file: string, cursor: Cursor, onLine: (text: string, lineNumber: number) => void): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    // A smaller file was truncated or replaced (the local stack restarted): start again from its beginning.
    if (size < cursor.offset) {
      cursor.offset = 0;
      cursor.lineNumber = 0;
    }
    let pending = Buffer.alloc(0);
    let position = cursor.offset;
    while (position < size) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK_BYTES, size - position));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      pending = Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
      let newline: number;
      while ((newline = pending.indexOf(0x0a)) !== -1) {
        const text = pending.subarray(0, newline).toString('utf8').trim();
        pending = pending.subarray(newline + 1);
        cursor.offset = position - pending.length;
        cursor.lineNumber += 1;
        if (text !== '') onLine(text, cursor.lineNumber);
      }
    }
  } finally {
    await handle.close();
  }
}

/** Waits one poll interval; false once `signal` has aborted. */
async function pause(signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(FOLLOW_POLL_MS, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

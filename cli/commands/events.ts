import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DETAIL_TYPES } from '../../shared/events/contract';
import type { CommandContext, ReplayState, ReplayStatus } from '../context';
import { CommandFailedError, parseArg, printJson, UsageError, warn, type Output } from '../output';

export const DEFAULT_TAIL_LIMIT = 20;

/** Polling, unlike fs.watch, also notices a file that is created or replaced after the tail started. */
const FOLLOW_POLL_MS = 250;
const READ_CHUNK_BYTES = 64 * 1024;
const SHORT_KEY_LENGTH = 12;
const DETAIL_TYPE_WIDTH = Math.max(...Object.values(DETAIL_TYPES).map((type) => type.length));
/** EventBridge's event time, e.g. 2024-05-01T12:00:03Z. */
const TIME_WIDTH = 20;
/** The columns of a text tail line (formatEvent), printed once before the first one. */
const TAIL_HEADER = ['TIME'.padEnd(TIME_WIDTH), 'DETAIL-TYPE'.padEnd(DETAIL_TYPE_WIDTH), 'INTEGRATION', 'CONNECTION', 'IDEMPOTENCY KEY'].join('  ');
/** Lines are printed as they come, so a column is as wide as its heading at least (a longer name widens its line only). */
const INTEGRATION_WIDTH = 'INTEGRATION'.length;
const CONNECTION_WIDTH = 'CONNECTION'.length;

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
  // Text mode only: --json prints each event as its JSON line, nothing else on stdout.
  let headed = args.json;
  const textOutput: Output = {
    out(line) {
      if (!headed) output.out(TAIL_HEADER);
      headed = true;
      output.out(line);
    },
    err: (line) => output.err(line),
  };
  const print = (text: string, lineNumber: number) => printEvent(textOutput, file, text, lineNumber, args.json);

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
    event.detail.providerConfigKey.padEnd(INTEGRATION_WIDTH),
    (event.detail.connectionId ?? '-').padEnd(CONNECTION_WIDTH),
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

export const LOCAL_REPLAY_MESSAGE = 'replay needs AWS: the local stack has no archive';

/** How often `--wait` asks EventBridge; a replay takes minutes, so a few seconds loses nothing. */
export const REPLAY_POLL_MS = 5_000;

const FINAL_REPLAY_STATES: readonly ReplayState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

const isoTimeSchema = z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time with a zone, e.g. 2026-11-25T08:00:00Z' });

/** EventBridge rule names: 1-64 letters, digits, ".", "-", "_". */
const ruleNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a rule name is 1-64 letters, digits, ".", "-" and "_"');

export interface ReplayEventsOptions {
  from: string;
  to: string;
  rule?: string;
  wait?: boolean;
  json?: boolean;
}

export interface ReplayEventsArgs {
  from: Date;
  to: Date;
  rule?: string;
  wait: boolean;
  json: boolean;
}

/** Both times parsed, `--from` before `--to`, neither in the future (the archive holds only the past). */
export function parseReplayEventsArgs(options: ReplayEventsOptions, now: Date = new Date()): ReplayEventsArgs {
  const from = new Date(parseArg(isoTimeSchema, options.from, '--from'));
  const to = new Date(parseArg(isoTimeSchema, options.to, '--to'));
  if (from.getTime() >= to.getTime()) throw new UsageError(`--from (${from.toISOString()}) must be before --to (${to.toISOString()})`);
  if (to.getTime() > now.getTime()) throw new UsageError(`--to (${to.toISOString()}) is in the future: the archive holds only events up to now (${now.toISOString()})`);
  return {
    from,
    to,
    ...(options.rule === undefined ? {} : { rule: parseArg(ruleNameSchema, options.rule, '--rule') }),
    wait: options.wait === true,
    json: options.json === true,
  };
}

export interface ReplayDependencies {
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Default `graph-relay-<from, compact>-<random>`. */
  replayName?: string;
}

/** A name EventBridge accepts (64 characters of [.-_A-Za-z0-9]) that says what was replayed. */
export function replayNameFor(from: Date): string {
  const compact = from.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `graph-relay-${compact}-${randomBytes(3).toString('hex')}`;
}

/**
 * Starts an EventBridge replay of the stack's archive, `from` to `to`, onto its bus (to one rule's targets with
 * `rule`). EventBridge marks replayed events with `replay-name`, so consumers can tell them apart.
 */
export async function replayEvents(context: CommandContext, args: ReplayEventsArgs, output: Output, dependencies: ReplayDependencies = {}): Promise<void> {
  const replays = context.replays;
  if (replays === undefined) throw new CommandFailedError(LOCAL_REPLAY_MESSAGE);
  const { archiveArn, eventBusArn } = await replays.archive();
  const ruleArns = args.rule === undefined ? [] : [await replays.ruleArn(args.rule)];
  const replayName = dependencies.replayName ?? replayNameFor(args.from);
  const started = await replays.start({ replayName, archiveArn, eventBusArn, from: args.from, to: args.to, ruleArns });
  const result = { replayName, replayArn: started.replayArn, state: started.state as ReplayState, from: args.from.toISOString(), to: args.to.toISOString(), eventBusArn, archiveArn, ...(args.rule === undefined ? {} : { rule: args.rule }) };
  if (!args.json) {
    output.out(`replay ${replayName}: ${started.state}`);
    output.out(`arn: ${started.replayArn}`);
    output.out(`events of ${result.from} to ${result.to} from ${archiveArn} onto ${eventBusArn}${args.rule === undefined ? '' : `, for rule ${args.rule} only`}`);
  }
  let final: ReplayStatus | undefined;
  if (args.wait) {
    final = await waitForReplay(replays.describe.bind(replays), replayName, args, output, dependencies);
    result.state = final.state;
  } else if (!args.json) {
    output.err(`graph-relay: follow it with: aws events describe-replay --replay-name ${replayName}`);
  }
  if (args.json) printJson(output, { ...result, ...(final?.stateReason === undefined ? {} : { stateReason: final.stateReason }) });
  else if (final !== undefined) output.out(`replay ${replayName}: ${final.state}${final.stateReason === undefined ? '' : ` (${final.stateReason})`}`);
  if (final !== undefined && final.state !== 'COMPLETED') {
    throw new CommandFailedError(`replay ${replayName} ${final.state}${final.stateReason === undefined ? '' : `: ${final.stateReason}`}`);
  }
}

async function waitForReplay(
  describe: (name: string) => Promise<ReplayStatus>,
  replayName: string,
  args: ReplayEventsArgs,
  output: Output,
  dependencies: ReplayDependencies,
): Promise<ReplayStatus> {
  const wait = dependencies.sleep ?? ((ms: number) => sleep(ms));
  const pollMs = dependencies.pollMs ?? REPLAY_POLL_MS;
  for (;;) {
    const status = await describe(replayName);
    if (FINAL_REPLAY_STATES.includes(status.state)) return status;
    output.err(`graph-relay: replay ${replayName}: ${status.state}${progressOf(status, args)}`);
    await wait(pollMs);
  }
}

function progressOf(status: ReplayStatus, args: ReplayEventsArgs): string {
  if (status.lastReplayedAt === undefined) return '';
  const span = args.to.getTime() - args.from.getTime();
  const done = Math.min(100, Math.max(0, Math.floor(((status.lastReplayedAt.getTime() - args.from.getTime()) / span) * 100)));
  return `, ${done}% (replayed up to ${status.lastReplayedAt.toISOString()})`;
}

/**
 * `subscriptions resync`: one subscription's catch-up with its Graph delta query, asked by an operator. By default
 * it runs here, with the resync function's own code (runResync) and so under the same lease: it never runs
 * alongside the function's run of the same declaration. `--queue` hands the job to the resync function instead.
 */
import { randomUUID } from 'node:crypto';
import { resyncJob, type ResyncJob } from '../../shared/resync/resync-job';
import { declarationOf, runResync, type ResyncPorts, type ResyncResult, type ResyncSkipReason } from '../../shared/resync/run-resync';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { formatDeclaration } from '../../shared/subscriptions/declarations';
import type { CommandContext, ResyncAccess } from '../context';
import { CommandFailedError, printJson, warn, type Output } from '../output';
import { findRecord, parseSubscriptionRefArgs, type SubscriptionRefArgs } from './subscription-changes';

/**
 * A round as long as the resync function's timeout: the CLI has no deadline of its own, but a round's deadline is
 * also how long its lease outlives a CLI stopped with Ctrl-C (plus the lease grace), so rounds are not made longer.
 */
export const CLI_RESYNC_ROUND_MS = 5 * 60_000;

export interface ResyncArgs extends SubscriptionRefArgs {
  full?: boolean;
  queue?: boolean;
}

export function parseResyncArgs(args: ResyncArgs): ResyncArgs {
  return { ...parseSubscriptionRefArgs(args), full: args.full === true, queue: args.queue === true };
}

export interface ResyncDependencies {
  /** Waits out Graph's Retry-After between throttled rounds; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** Epoch ms, for rounds' deadlines and the run's times; tests pass one that moves on its own. */
  clock?: { now(): number };
  roundMs?: number;
}

export async function resyncSubscription(context: CommandContext, args: ResyncArgs, output: Output, dependencies: ResyncDependencies = {}): Promise<void> {
  const record = await findRecord(context, args);
  const resync = context.resync;
  if (resync === undefined) throw new CommandFailedError('resync cannot be run in this mode');
  if (args.queue === true) return queueResync(resync, record, args, output);

  const run = resync.run;
  if (run === undefined) {
    throw new CommandFailedError(
      'the event bus is unknown (names given as flags), so nothing could be published: drop --connections-table/--webhook-secret-prefix, or ask the resync function with --queue',
    );
  }
  const clock = dependencies.clock ?? { now: () => Date.now() };
  const ports: ResyncPorts = {
    subscriptions: context.subscriptions,
    connections: context.store,
    states: resync.states,
    ...run,
    logger: {
      info: () => undefined,
      warn: (message, fields) => warn(output, withError(message, fields)),
      // A failed run's error is the command's own last line.
      error: (message, fields) => {
        if (!message.startsWith('resync failed')) warn(output, withError(message, fields));
      },
    },
    clock,
    onProgress: ({ mode, pages, objects }) => output.err(`graph-relay: resync ${record.subscriptionId}: ${mode}, ${count(pages, 'page')}, ${count(objects, 'object')} published`),
  };
  const sleep = dependencies.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const roundMs = dependencies.roundMs ?? CLI_RESYNC_ROUND_MS;
  // One owner for every round: the lease taken in one round is this command's in the next.
  const owner = `cli-${randomUUID()}`;
  const started = clock.now();
  let job: ResyncJob = resyncJob(record.integrationId, record.subscriptionId, 'operator', new Date(), args.full === true);
  let rounds = 0;
  let result: ResyncResult;
  for (;;) {
    rounds += 1;
    result = await runResync(ports, job, { deadline: clock.now() + roundMs, owner });
    if (result.outcome === 'throttled') {
      output.err(`graph-relay: resync ${record.subscriptionId}: Graph throttled it; going on from its checkpoint in ${seconds(result.retryAfterMs)}`);
      await sleep(result.retryAfterMs);
    } else if (result.outcome !== 'continued') {
      break;
    }
    // The run in progress goes on from its checkpoint, as the function's continuation would.
    job = resyncJob(record.integrationId, record.subscriptionId, 'continued', new Date());
  }
  const elapsedMs = clock.now() - started;
  if (args.json) printJson(output, { integrationId: record.integrationId, subscriptionId: record.subscriptionId, ...result, rounds, elapsedMs });

  switch (result.outcome) {
    case 'completed': {
      if ((result.unpublishable ?? 0) > 0) warn(output, `${count(result.unpublishable, 'object')} too large for EventBridge could not be published (see the warnings above)`);
      if (!args.json) output.out(describeCompleted(record, result, elapsedMs));
      return;
    }
    case 'busy':
      throw new CommandFailedError(await busyMessage(resync, record));
    case 'skipped':
      throw new CommandFailedError(`resync of subscription ${record.subscriptionId} skipped: ${result.detail}${skipFix(record, result.reason)}`);
    case 'failed': {
      const again = result.retry ? '; it looks transient: run this again, it goes on from its checkpoint' : '';
      throw new CommandFailedError(`resync of subscription ${record.subscriptionId} failed after ${count(result.pages ?? 0, 'page')}: ${result.error}${again}`);
    }
  }
}

async function queueResync(resync: ResyncAccess, record: SubscriptionRecord, args: ResyncArgs, output: Output): Promise<void> {
  const requests = resync.requests;
  if (requests === undefined) {
    throw new CommandFailedError(`${resync.noQueue ?? 'the target has no resync queue'}; or run the resync here, without --queue`);
  }
  const job = resyncJob(record.integrationId, record.subscriptionId, 'operator', new Date(), args.full === true);
  await requests.request([job]);
  if (args.json) {
    printJson(output, { queued: true, ...job });
    return;
  }
  output.out(
    `queued a ${args.full === true ? 'full ' : ''}resync of subscription ${record.subscriptionId} (${formatDeclaration(record)} of ${record.integrationId}/${record.connectionId}): ` +
      'the resync function runs it; graph-relay doctor shows its outcome',
  );
}

function describeCompleted(record: SubscriptionRecord, result: Extract<ResyncResult, { outcome: 'completed' }>, elapsedMs: number): string {
  const what = `subscription ${record.subscriptionId} (${formatDeclaration(record)} of ${record.integrationId}/${record.connectionId})`;
  const throttled = result.throttled > 0 ? `; Graph throttled ${count(result.throttled, 'request')}` : '';
  const took = `${count(result.pages, 'page')} in ${seconds(elapsedMs)}${throttled}`;
  if (result.mode === 'baseline') return `took a baseline of ${what}: ${took}, nothing published`;
  const why = result.fullReason === undefined ? '' : ` (${FULL_REASONS[result.fullReason]})`;
  return `resynced ${what}: ${result.mode}${why}, ${count(result.changed + result.deleted, 'object')} published (${result.changed} changed, ${result.deleted} deleted), ${took}`;
}

const FULL_REASONS = {
  requested: 'asked with --full',
  'no-baseline': 'there was no baseline to go on from',
  expired: 'Graph no longer honoured the delta link',
} as const;

async function busyMessage(resync: ResyncAccess, record: SubscriptionRecord): Promise<string> {
  const state = await resync.states.get({ integrationId: record.integrationId, connectionId: record.connectionId, declaration: declarationOf(record) }).catch(() => undefined);
  const since = state?.run?.startedAt ?? state?.updatedAt;
  return `another run of ${formatDeclaration(record)} of ${record.integrationId}/${record.connectionId} is in progress${since === undefined ? '' : ` since ${since}`}; try again later or use --queue`;
}

function skipFix(record: SubscriptionRecord, reason: ResyncSkipReason): string {
  const { integrationId, connectionId, subscriptionId } = record;
  switch (reason) {
    case 'not-declared':
      return `; declare it with: graph-relay connections subscribe ${integrationId} ${connectionId} ${formatDeclaration(record)} --resync`;
    case 'subscription-inactive':
      return `; bring it back first: graph-relay subscriptions renew ${subscriptionId} --integration ${integrationId}`;
    case 'subscription-gone':
      return `; see its successor with: graph-relay subscriptions list --integration ${integrationId} --connection ${connectionId}`;
    default:
      return '';
  }
}

function withError(message: string, fields: Record<string, unknown>): string {
  return fields['error'] === undefined ? message : `${message}: ${String(fields['error'])}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

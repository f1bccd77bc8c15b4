/**
 * A request to catch up on one subscription's resource with its Graph delta query: the message that goes on the
 * resync queue (SQS in AWS and in the local stack) and that the resync function takes. Senders only say which
 * subscription and why; the run itself decides, from the subscription's checkpoint, whether that means a baseline,
 * an incremental catch-up from the stored delta link, or a full round.
 */
import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { integrationIdSchema } from '../store/items';
import { errorMessage } from '../util/errors';

/**
 * Why a resync was asked for:
 * - `created`: the reconciler created the subscription (a baseline when there is none; otherwise a catch-up from the
 *   declaration's last delta link, since a create for a declaration that had a subscription is a recreation);
 * - `declared`: a connection change declared `;resync` on a subscription that exists (a baseline when there is
 *   none; nothing otherwise);
 * - `missed`: Graph's `missed` lifecycle notification;
 * - `removed`: Graph's `subscriptionRemoved`, after the lifecycle handler recreated the subscription;
 * - `recreated`: renewal found the subscription gone (404) and created it again;
 * - `resumed`: `graph-relay connections resume` after consent came back;
 * - `periodic`: the safety net, on a schedule;
 * - `operator`: `graph-relay subscriptions resync`;
 * - `continued`: the run before it stopped at its deadline and goes on from its checkpoint.
 */
export const RESYNC_TRIGGERS = ['created', 'declared', 'missed', 'removed', 'recreated', 'resumed', 'periodic', 'operator', 'continued'] as const;
export type ResyncTrigger = (typeof RESYNC_TRIGGERS)[number];

export interface ResyncJob {
  integrationId: string;
  subscriptionId: string;
  trigger: ResyncTrigger;
  /** Every current object is published, not only the changes since the last delta link. */
  full?: true;
  /** ISO time the request was made. */
  requestedAt: string;
}

export const resyncJobSchema = z.object({
  integrationId: integrationIdSchema,
  subscriptionId: z.string().min(1).max(200),
  trigger: z.enum(RESYNC_TRIGGERS),
  full: z.literal(true).optional(),
  requestedAt: z.iso.datetime({ offset: true }),
});

export class InvalidResyncJobError extends Error {
  override readonly name = 'InvalidResyncJobError';
}

/** A queue message body into a job. @throws InvalidResyncJobError (never retried: it would fail the same way) */
export function parseResyncJob(body: string): ResyncJob {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidResyncJobError('resync message is not JSON');
  }
  const parsed = resyncJobSchema.safeParse(json);
  if (!parsed.success) throw new InvalidResyncJobError(`resync message is invalid: ${describeIssues(parsed.error)}`);
  const { integrationId, subscriptionId, trigger, full, requestedAt } = parsed.data;
  return { integrationId, subscriptionId, trigger, ...(full === true ? { full: true as const } : {}), requestedAt };
}

/** Where resyncs are asked for (an SQS queue; the local stack's emulator serves the same API). */
export interface ResyncRequests {
  /** Sends every job; throws when any could not be sent (the caller logs it: a missed catch-up must be visible). */
  request(jobs: readonly ResyncJob[], options?: { delaySeconds?: number }): Promise<void>;
}

/** For functions without a queue configured (resync not deployed, tests): asks for nothing. */
export const NO_RESYNC_REQUESTS: ResyncRequests = { request: async () => undefined };

/** A job for `subscriptionId`, asked now. */
export function resyncJob(integrationId: string, subscriptionId: string, trigger: ResyncTrigger, now: Date, full = false): ResyncJob {
  return { integrationId, subscriptionId, trigger, ...(full ? { full: true as const } : {}), requestedAt: now.toISOString() };
}

/**
 * Asks for catch-ups on behalf of lifecycle handling, renewal and the reconciler: a failure is logged as an error
 * (naming the subscriptions and what to run by hand) and reported as false, never thrown, since the Graph side of
 * their work is done and must not be repeated.
 */
export async function askForResyncs(
  requests: ResyncRequests | undefined,
  jobs: readonly ResyncJob[],
  logger: { error(message: string, fields: Record<string, unknown>): void },
): Promise<boolean> {
  if (requests === undefined || jobs.length === 0) return true;
  try {
    await requests.request(jobs);
    return true;
  } catch (error) {
    logger.error('resync not requested: run graph-relay subscriptions resync <subscriptionId> for each', {
      subscriptions: jobs.slice(0, 10).map((job) => `${job.integrationId}/${job.subscriptionId}`),
      more: Math.max(0, jobs.length - 10),
      trigger: jobs[0]?.trigger,
      error: errorMessage(error),
    });
    return false;
  }
}

/**
 * The reconciler's DynamoDB Streams side: a batch of connections-table changes becomes one
 * reconcile per changed connection.
 *
 * Only connection items count. Subscription records are what the reconciler itself writes: reacting to them would
 * loop. A MODIFY that leaves the connection's tenant and declarations as they were changes nothing the reconciler
 * acts on, so it is skipped. Several changes of one connection in a batch make one reconcile: the reconciler reads
 * the connection as it is now, not as the record describes it.
 *
 * Failures are reported per record (ReportBatchItemFailures) so one bad connection does not hold up the shard:
 * failures a retry can fix (Graph or store errors, changes deferred for lack of time, a failed run) report every
 * record of the connection; failures only the operator can fix (consent, credentials, an invalid declaration) are
 * logged and left to the scheduled reconcile, which tries again after the fix.
 */
import type { AttributeValue, DynamoDBBatchItemFailure, DynamoDBRecord } from 'aws-lambda';
import { connectionIdSchema, integrationIdSchema, keys } from '../store/items';
import { reconcile, type ReconcilePorts, type ReconcileReport } from './reconcile';
import { describeError } from '../util/errors';
import { optional } from '../util/optional';

export interface ConnectionTarget {
  integrationId: string;
  connectionId: string;
  /** Stream sequence numbers of the batch's records about this connection. */
  sequenceNumbers: string[];
}

export type IgnoredReason = 'not-a-connection' | 'unchanged' | 'unreadable-keys';

export interface ConnectionChanges {
  /** One per changed connection, in order of first appearance in the batch. */
  targets: ConnectionTarget[];
  ignored: { reason: IgnoredReason; eventName?: string; sk?: string; sequenceNumber?: string }[];
}

const INTEGRATION_PARTITION_PREFIX = 'INTEGRATION#';

/**
 * Attributes of a connection item the reconciler's plan depends on. `status`: a connection resumed after consent
 * was granted again gets the creates skipped while it needed consent.
 */
const PLANNED_ATTRIBUTES = ['tenantId', 'subscriptions', 'status'] as const;

export function connectionChangesOf(records: readonly DynamoDBRecord[]): ConnectionChanges {
  const targets = new Map<string, ConnectionTarget>();
  const ignored: ConnectionChanges['ignored'] = [];
  for (const record of records) {
    const image = record.dynamodb;
    const sequenceNumber = image?.SequenceNumber;
    const pk = image?.Keys?.['pk']?.S;
    const sk = image?.Keys?.['sk']?.S;
    const base = { ...optional('eventName', record.eventName), ...optional('sk', sk), ...optional('sequenceNumber', sequenceNumber) };
    if (sk === undefined || !sk.startsWith(keys.connectionPrefix)) {
      ignored.push({ reason: 'not-a-connection', ...base });
      continue;
    }
    const integrationId = integrationIdSchema.safeParse(pk?.startsWith(INTEGRATION_PARTITION_PREFIX) ? pk.slice(INTEGRATION_PARTITION_PREFIX.length) : undefined);
    const connectionId = connectionIdSchema.safeParse(sk.slice(keys.connectionPrefix.length));
    if (!integrationId.success || !connectionId.success || sequenceNumber === undefined) {
      ignored.push({ reason: 'unreadable-keys', ...base });
      continue;
    }
    if (record.eventName === 'MODIFY' && !plannedAttributesChanged(image?.OldImage, image?.NewImage)) {
      ignored.push({ reason: 'unchanged', ...base });
      continue;
    }
    const key = `${integrationId.data}\n${connectionId.data}`;
    const target = targets.get(key);
    if (target === undefined) targets.set(key, { integrationId: integrationId.data, connectionId: connectionId.data, sequenceNumbers: [sequenceNumber] });
    else target.sequenceNumbers.push(sequenceNumber);
  }
  return { targets: [...targets.values()], ignored };
}

/** Without both images (a stream view other than NEW_AND_OLD_IMAGES) a change cannot be ruled out. */
function plannedAttributesChanged(oldImage: Record<string, AttributeValue> | undefined, newImage: Record<string, AttributeValue> | undefined): boolean {
  if (oldImage === undefined || newImage === undefined) return true;
  return PLANNED_ATTRIBUTES.some((name) => JSON.stringify(oldImage[name] ?? null) !== JSON.stringify(newImage[name] ?? null));
}

export interface ConnectionChangesOutcome {
  batchItemFailures: DynamoDBBatchItemFailure[];
  reconciled: number;
  ignored: number;
}

/**
 * Reconciles each changed connection in turn, by the deadline (epoch ms, ports.clock). A connection not reached
 * before the deadline is reported as failed, so the stream hands its records over again.
 */
export async function reconcileConnectionChanges(
  ports: ReconcilePorts,
  records: readonly DynamoDBRecord[],
  options: { deadline: number },
): Promise<ConnectionChangesOutcome> {
  const { targets, ignored } = connectionChangesOf(records);
  for (const skipped of ignored.filter((entry) => entry.reason === 'unreadable-keys')) {
    ports.logger.warn('stream record ignored: its keys are not those of a connection item', { ...skipped });
  }
  const failedSequenceNumbers: string[] = [];
  let reconciled = 0;
  for (const target of targets) {
    const { integrationId, connectionId } = target;
    let retry: string | undefined;
    try {
      const report = await reconcile(ports, { integrationId, connectionId, dryRun: false, deadline: options.deadline });
      retry = retryReason(report);
    } catch (error) {
      retry = describeError(error);
    }
    if (retry === undefined) {
      reconciled += 1;
    } else {
      ports.logger.warn('connection reconcile to be retried from the stream', { integrationId, connectionId, reason: retry });
      failedSequenceNumbers.push(...target.sequenceNumbers);
    }
  }
  return {
    batchItemFailures: failedSequenceNumbers.map((itemIdentifier) => ({ itemIdentifier })),
    reconciled,
    ignored: ignored.length,
  };
}

/** Why the stream should hand the connection's records over again, if a retry can help. */
function retryReason(report: ReconcileReport): string | undefined {
  if (report.deferred.length > 0) return `${report.deferred.length} change(s) deferred to a later run`;
  const retryable = report.failed.filter((failure) => failure.reason === 'graph-error' || failure.reason === 'store-error');
  if (retryable.length > 0) return retryable.map((failure) => `${failure.change.action} ${failure.change.resource}: ${failure.message}`).join('; ');
  return undefined;
}

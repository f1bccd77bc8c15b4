import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { chunk } from '../util/batching';
import type { ResyncJob, ResyncRequests } from './resync-job';

/** SQS takes at most 10 messages per SendMessageBatch, and delays of at most 15 minutes. */
const SQS_BATCH = 10;
export const SQS_MAX_DELAY_SECONDS = 900;

/** Resync requests as messages on the resync queue (the local stack's emulator serves the same API). */
export class SqsResyncRequests implements ResyncRequests {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async request(jobs: readonly ResyncJob[], options: { delaySeconds?: number } = {}): Promise<void> {
    const delay = Math.max(0, Math.min(SQS_MAX_DELAY_SECONDS, Math.ceil(options.delaySeconds ?? 0)));
    const failed: string[] = [];
    for (const batch of chunk([...jobs], SQS_BATCH)) {
      const { Failed } = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: batch.map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job), ...(delay > 0 ? { DelaySeconds: delay } : {}) })),
        }),
      );
      for (const failure of Failed ?? []) {
        const job = batch[Number(failure.Id)];
        failed.push(`${job?.integrationId}/${job?.subscriptionId}: ${failure.Code ?? 'error'} ${failure.Message ?? ''}`.trim());
      }
    }
    if (failed.length > 0) throw new Error(`resync requests not queued (${failed.length} of ${jobs.length}): ${failed.slice(0, 3).join('; ')}`);
  }
}

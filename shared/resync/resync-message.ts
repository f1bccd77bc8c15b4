/**
 * One message of the resync queue, from its body to whether SQS should deliver it again. A run stopped by its
 * deadline or by Graph's throttling is asked again at once (or after Retry-After) as a new message, so this one is
 * done with; only a transient failure leaves the message to SQS, which delivers it again after the visibility
 * timeout (the run goes on from its checkpoint) and, after the queue's maxReceiveCount, to the dead-letter queue.
 */
import { RESYNC_DEFAULTS } from '../config/resync-config';
import { InvalidResyncJobError, parseResyncJob, type ResyncJob, type ResyncRequests } from './resync-job';
import { runResync, type ResyncLogger, type ResyncPorts, type ResyncResult } from './run-resync';
import { errorStack } from '../util/errors';

export interface ResyncMessagePorts {
  ports: ResyncPorts;
  /** The resync queue itself: continuations and busy jobs go back on it. */
  requests: ResyncRequests;
  logger: ResyncLogger;
  metrics: { count(metric: 'Invalid' | 'Failed'): void; record(result: ResyncResult): void };
}

/** True when the message is done with (whatever the outcome); false to have SQS deliver it again. */
export async function handleResyncMessage(runtime: ResyncMessagePorts, body: string, deadline: number): Promise<boolean> {
  const { ports, requests, logger, metrics } = runtime;
  let job: ResyncJob;
  try {
    job = parseResyncJob(body);
  } catch (error) {
    if (!(error instanceof InvalidResyncJobError)) throw error;
    metrics.count('Invalid');
    logger.error('resync message refused: it is dropped, every retry would fail the same way', { error: error.message });
    return true;
  }
  const fields = { integrationId: job.integrationId, subscriptionId: job.subscriptionId, trigger: job.trigger };
  try {
    const result = await runResync(ports, job, { deadline });
    metrics.record(result);
    // The run's mode and trigger are in its checkpoint: the continuation only has to name the subscription.
    const again = (): ResyncJob => ({ integrationId: job.integrationId, subscriptionId: job.subscriptionId, trigger: 'continued', requestedAt: new Date(ports.clock.now()).toISOString() });
    switch (result.outcome) {
      case 'completed':
        return true;
      case 'continued':
        await requests.request([again()]);
        return true;
      case 'throttled':
        await requests.request([again()], { delaySeconds: Math.ceil(result.retryAfterMs / 1000) });
        return true;
      case 'busy':
        // Another run of this declaration is under way; this trigger may have come after its round began.
        await requests.request([{ ...job, requestedAt: new Date(ports.clock.now()).toISOString() }], { delaySeconds: RESYNC_DEFAULTS.busyRetrySeconds });
        return true;
      case 'skipped':
        logger.info('resync not run', { ...fields, reason: result.reason, detail: result.detail });
        return true;
      case 'failed':
        return !result.retry;
    }
  } catch (error) {
    metrics.count('Failed');
    logger.error('resync run failed: SQS delivers it again and it goes on from its checkpoint', { ...fields, error: errorStack(error) });
    return false;
  }
}

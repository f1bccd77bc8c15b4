import { runHeartbeat, type HeartbeatReport } from '../../shared/leadership/heartbeat';
import { errorStack } from '../../shared/util/errors';
import { createWriterLeaseRuntime, type WriterLeaseRuntime } from './runtime';

let runtime: WriterLeaseRuntime | undefined;

/**
 * The Graph writer lease's heartbeat, invoked every minute by a schedule in each region (the event carries nothing
 * it needs): renew or take the lease, start the catch-up runs after a takeover, deliver the hand-offs while this
 * region is the writer. A failed heartbeat throws, so the invocation counts as an error; the next one starts afresh.
 */
export const handler = async (): Promise<HeartbeatReport | { lease: 'off' }> => {
  runtime ??= createWriterLeaseRuntime();
  return heartbeat(runtime);
};

export async function heartbeat(runtime: WriterLeaseRuntime): Promise<HeartbeatReport | { lease: 'off' }> {
  const { ports, logger, metrics } = runtime;
  if (ports === undefined) {
    logger.info('writer lease off: nothing to do', {});
    return { lease: 'off' };
  }
  try {
    const report = await runHeartbeat(ports);
    metrics.record(report);
    return report;
  } catch (error) {
    logger.error('writer lease heartbeat failed', { error: errorStack(error) });
    throw error;
  } finally {
    metrics.flush();
  }
}

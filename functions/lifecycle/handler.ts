import type { Context } from 'aws-lambda';
import { handleLifecycleEvent, InvalidLifecycleEventError, type LifecycleResult } from '../../shared/subscriptions/lifecycle';
import { errorStack } from '../../shared/util/errors';
import { createLifecycleRuntime, LIFECYCLE_METRIC_OF, type LifecycleRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type LifecycleContext = Pick<Context, 'getRemainingTimeInMillis'>;

/** Graph calls stop this long before the Lambda timeout, leaving time to publish the failure event and flush. */
export const LIFECYCLE_DEADLINE_MARGIN_MS = 5_000;

let runtime: LifecycleRuntime | undefined;

/**
 * Invoked asynchronously by the EventBridge rule on `Graph Lifecycle Notification` events. A thrown error makes
 * Lambda retry (twice) and then send the event to the dead-letter queue; an event of the wrong shape is counted,
 * logged and dropped instead, since every retry would fail the same way.
 */
export const handler = async (event: unknown, context: LifecycleContext): Promise<LifecycleResult | { outcome: 'invalid' }> => {
  runtime ??= createLifecycleRuntime();
  return runLifecycle(runtime, event, context);
};

export async function runLifecycle(runtime: LifecycleRuntime, event: unknown, context: LifecycleContext): Promise<LifecycleResult | { outcome: 'invalid' }> {
  const { ports, logger, metrics } = runtime;
  const deadline = ports.clock.now() + context.getRemainingTimeInMillis() - LIFECYCLE_DEADLINE_MARGIN_MS;
  try {
    const result = await handleLifecycleEvent(ports, event, { deadline });
    metrics.count(LIFECYCLE_METRIC_OF[result.outcome]);
    if (result.unpublishedEvents > 0) metrics.count('EventsUnpublished', result.unpublishedEvents);
    return result;
  } catch (error) {
    if (error instanceof InvalidLifecycleEventError) {
      metrics.count('Invalid');
      logger.error('lifecycle event refused', { error: error.message, eventId: eventIdOf(event) });
      return { outcome: 'invalid' };
    }
    metrics.count('Errors');
    logger.error('lifecycle event failed: Lambda retries it, then sends it to the dead-letter queue', {
      error: errorStack(error),
      eventId: eventIdOf(event),
    });
    throw error;
  } finally {
    metrics.flush();
  }
}

function eventIdOf(event: unknown): unknown {
  return typeof event === 'object' && event !== null ? (event as { id?: unknown }).id : undefined;
}

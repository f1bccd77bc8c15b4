import type { Context } from 'aws-lambda';
import { asWriter, type NotWriter } from '../../shared/leadership/writer-gate';
import { handleLifecycleEvent, InvalidLifecycleEventError, type LifecycleResult } from '../../shared/subscriptions/lifecycle';
import { errorStack } from '../../shared/util/errors';
import { createLifecycleRuntime, LIFECYCLE_METRIC_OF, type LifecycleRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type LifecycleContext = Pick<Context, 'getRemainingTimeInMillis'>;

/** Graph calls stop this long before the Lambda timeout, leaving time to publish the failure event and flush. */
export const LIFECYCLE_DEADLINE_MARGIN_MS = 5_000;

let runtime: LifecycleRuntime | undefined;

export type LifecycleAnswer = LifecycleResult | { outcome: 'invalid' } | (NotWriter & { handedOff: string });

/**
 * Invoked asynchronously by the EventBridge rule on `Graph Lifecycle Notification` events (and by the writer's
 * heartbeat with events handed off by another region). A thrown error makes Lambda retry (twice) and then send the
 * event to the dead-letter queue; an event of the wrong shape is counted, logged and dropped instead, since every
 * retry would fail the same way. A region not holding the writer lease stores the event for the writer instead.
 */
export const handler = async (event: unknown, context: LifecycleContext): Promise<LifecycleAnswer> => {
  runtime ??= createLifecycleRuntime();
  return lifecycleIfWriter(runtime, event, context);
};

export function lifecycleIfWriter(runtime: LifecycleRuntime, event: unknown, context: LifecycleContext): Promise<LifecycleAnswer> {
  const { writer } = runtime;
  return asWriter(writer?.gate, runtime.logger, 'lifecycle event', () => runLifecycle(runtime, event, context), async () => ({ handedOff: (await writer?.handOff(event)) ?? '' }));
}

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

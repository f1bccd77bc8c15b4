/**
 * The local stand-in for the lifecycle function's EventBridge rule: every `Graph Lifecycle Notification` the
 * intake puts on the local bus is handed to the lifecycle handler, in process. A failure is logged, never thrown:
 * it cannot take the local stack down. (On AWS, Lambda retries a failed event twice, then dead-letters it; locally
 * it is tried once.)
 */
import { DETAIL_TYPES } from '../shared/events/contract';
import type { AwsEmulator, EmittedEvent } from './aws-emulator';

export interface LocalLifecycleOptions {
  emulator: Pick<AwsEmulator, 'onEvent'>;
  eventBusName: string;
  eventSource: string;
  /** The handler, as the rule would invoke it. */
  handle(event: EmittedEvent): Promise<unknown>;
  log(line: string): void;
  logError(line: string): void;
}

export interface LocalLifecycle {
  /** Resolves once every event received so far has been handled (tests wait on it). */
  idle(): Promise<void>;
  /** Stops taking events and waits for those in progress. */
  stop(): Promise<void>;
}

/** The deployed rule's pattern (infra/constructs/lifecycle-handler.ts). */
export function lifecyclePattern(eventSource: string): Record<string, unknown> {
  return { source: [eventSource], 'detail-type': [DETAIL_TYPES.lifecycle] };
}

export function startLocalLifecycle(options: LocalLifecycleOptions): LocalLifecycle {
  const inFlight = new Set<Promise<void>>();
  const unsubscribe = options.emulator.onEvent({ eventBusName: options.eventBusName, pattern: lifecyclePattern(options.eventSource) }, (event) => {
    const handling = options
      .handle(event)
      .then((result) => {
        const { outcome, subscriptionId, newSubscriptionId, skipped, writer } = (result ?? {}) as { outcome?: string; subscriptionId?: string; newSubscriptionId?: string; skipped?: string; writer?: string };
        // A region not holding the writer lease stores the event for the writer (shared/leadership/handoffs.ts).
        if (skipped === 'not-writer') return options.log(`lifecycle: ${event.id} handed off to the Graph writer (${writer ?? 'no region holds the lease'})`);
        options.log(`lifecycle: ${outcome ?? 'handled'} ${subscriptionId ?? event.id}${newSubscriptionId === undefined ? '' : ` → ${newSubscriptionId}`}`);
      })
      .catch((error: unknown) => options.logError(`lifecycle: event ${event.id} failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  });
  const idle = async () => {
    // Handling one event can put another lifecycle event on the bus, so wait until nothing is left.
    await new Promise((resolve) => setImmediate(resolve));
    while (inFlight.size > 0) {
      await Promise.all([...inFlight]);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return {
    idle,
    async stop() {
      unsubscribe();
      await idle();
    },
  };
}

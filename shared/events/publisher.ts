import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { backoffDelay, mapConcurrent, sleep } from '../util/batching';
import type { EventEntry } from './contract';

/** EventBridge PutEvents limits: 10 entries and 256 KB per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

export interface PublishOptions {
  /** Attempts per entry, the first included. */
  maxAttempts: number;
  /** PutEvents calls in flight at once. */
  concurrency: number;
  delay?: (attempt: number) => number;
}

export interface PublishResult {
  calls: number;
  published: number;
  /** Entries sent again after a failed attempt, once per retry (absent: the publisher does not retry). */
  retried?: number;
}

/** Some entries could not be put on the bus after every retry: the request must fail so Graph redelivers. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    message: string,
    /** Indexes (into the events passed to `publish`) of the events that are not on the bus. */
    readonly failedIndexes: ReadonlySet<number>,
    readonly published: number,
    /** As PublishResult.retried: entries sent again before giving up on some. */
    readonly retried = 0,
  ) {
    super(message);
  }
}

/** An event that can never fit in a PutEvents call. */
export class EventTooLargeError extends Error {
  override readonly name = 'EventTooLargeError';
}

/** Any entry the publisher can put on the bus: notification events (EventEntry) or subscription events. */
export interface BusEntry {
  source: string;
  detailType: string;
  detail: unknown;
}

export interface EventPublisher<E extends BusEntry = EventEntry> {
  publish(events: readonly E[]): Promise<PublishResult>;
  /** The size EventBridge counts for an event, to refuse oversized ones before publishing. */
  sizeOf(event: E): number;
}

/** An event's Detail as the publisher sends it, and the size EventBridge counts for the entry. */
export interface SerialisedEvent {
  detail: string;
  size: number;
}

/** Each event object's serialisation, made on first need: events are never changed once built. */
const serialisations = new WeakMap<BusEntry, SerialisedEvent>();

/**
 * An event serialised exactly once, however often it is measured or sent: the size checked against the bus's limits
 * and the payload stored for an oversized event (shared/events/bus-fit.ts) are those of the bytes published.
 */
export function serialised(event: BusEntry): SerialisedEvent {
  let known = serialisations.get(event);
  if (known === undefined) {
    const detail = JSON.stringify(event.detail);
    known = { detail, size: entrySize({ Source: event.source, DetailType: event.detailType, Detail: detail }) };
    serialisations.set(event, known);
  }
  return known;
}

/** Entry size as EventBridge computes it: Source, DetailType, Detail and Resources in UTF-8 bytes (no Time set). */
export function entrySize(entry: PutEventsRequestEntry): number {
  let size = 0;
  if (entry.Time !== undefined) size += 14;
  for (const part of [entry.Source, entry.DetailType, entry.Detail]) if (part) size += Buffer.byteLength(part, 'utf8');
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8');
  return size;
}

/** Groups entries into calls of at most 10 entries and 256 KB, keeping their order. */
export function packEntries<T extends { size: number }>(entries: readonly T[]): T[][] {
  const calls: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (entry.size > PUT_EVENTS_MAX_BYTES) throw new EventTooLargeError(`event of ${entry.size} bytes exceeds the 256 KB PutEvents limit`);
    if (current.length === PUT_EVENTS_MAX_ENTRIES || bytes + entry.size > PUT_EVENTS_MAX_BYTES) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.size;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

/** Errors worth retrying at the call level: throttling and service faults, not validation. */
function isRetryableCallError(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  return e.$retryable !== undefined || status >= 500 || status === 429 || /Throttl|Internal|Unavailable|Timeout/i.test(e.name ?? '');
}

export class EventBridgePublisher<E extends BusEntry = EventEntry> implements EventPublisher<E> {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: PublishOptions,
  ) {}

  sizeOf(event: E): number {
    return serialised(event).size;
  }

  async publish(events: readonly E[]): Promise<PublishResult> {
    let pending = events.map((event, index) => ({ index, entry: this.toEntry(event), size: serialised(event).size }));
    let calls = 0;
    let published = 0;
    let retried = 0;
    let lastError: unknown;
    const givenUp: typeof pending = [];
    const delay = this.options.delay ?? backoffDelay;
    for (let attempt = 0; attempt < this.options.maxAttempts && pending.length > 0; attempt += 1) {
      if (attempt > 0) {
        await sleep(delay(attempt));
        retried += pending.length;
      }
      const batches = packEntries(pending);
      const failed: typeof pending = [];
      await mapConcurrent(batches, this.options.concurrency, async (batch) => {
        calls += 1;
        let results: PutEventsResultEntry[];
        try {
          const output = await this.client.send(new PutEventsCommand({ Entries: batch.map((b) => b.entry) }));
          results = output.Entries ?? [];
          if ((output.FailedEntryCount ?? 0) === 0 && results.length === batch.length) {
            published += batch.length;
            return;
          }
        } catch (error) {
          lastError = error;
          // A validation error will fail again: give up on this batch, keep publishing the others.
          (isRetryableCallError(error) ? failed : givenUp).push(...batch);
          return;
        }
        // Only the entries that failed are retried; results are positional.
        batch.forEach((item, i) => {
          const result = results[i];
          if (result?.EventId !== undefined && result.ErrorCode === undefined) published += 1;
          else failed.push(item);
        });
      });
      pending = failed;
    }
    const unpublished = [...pending, ...givenUp];
    if (unpublished.length > 0) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.name}: ${lastError.message})` : '';
      throw new PublishError(
        `${unpublished.length} of ${events.length} events could not be put on the bus${cause}`,
        new Set(unpublished.map((p) => p.index)),
        published,
        retried,
      );
    }
    return { calls, published, retried };
  }

  private toEntry(event: E): PutEventsRequestEntry {
    return {
      EventBusName: this.eventBusName,
      Source: event.source,
      DetailType: event.detailType,
      Detail: serialised(event).detail,
    };
  }
}

/**
 * A publisher that adds up the entries its inner publisher retried (PublishResult.retried, PublishError.retried)
 * until they are taken: one count per request for the intake's PublishRetries metric.
 */
export class RetryCountingPublisher<E extends BusEntry = EventEntry> implements EventPublisher<E> {
  private retried = 0;

  constructor(private readonly inner: EventPublisher<E>) {}

  sizeOf(event: E): number {
    return this.inner.sizeOf(event);
  }

  async publish(events: readonly E[]): Promise<PublishResult> {
    try {
      const result = await this.inner.publish(events);
      this.retried += result.retried ?? 0;
      return result;
    } catch (error) {
      if (error instanceof PublishError) this.retried += error.retried;
      throw error;
    }
  }

  /** The retries counted since the last call; the count starts again from zero. */
  takeRetried(): number {
    const retried = this.retried;
    this.retried = 0;
    return retried;
  }
}

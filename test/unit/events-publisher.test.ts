import {
  EventBridgeServiceException,
  InternalException,
  PutEventsCommand,
  ResourceNotFoundException,
  ThrottlingException,
  type EventBridgeClient,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import type { EventEntry } from '../../shared/events/contract';
import {
  EventBridgePublisher,
  EventTooLargeError,
  PUT_EVENTS_MAX_BYTES,
  PUT_EVENTS_MAX_ENTRIES,
  PublishError,
  RetryCountingPublisher,
  entrySize,
  packEntries,
  type PublishOptions,
} from '../../shared/events/publisher';
import { deferred, settle, type Deferred } from '../support/fakes';

const BUS = 'graph-relay-bus';

function event(n: number, extra = ''): EventEntry {
  return {
    source: 'graph-relay',
    detailType: 'Graph Change Notification',
    detail: {
      from: 'microsoft-oauth2-cc',
      providerConfigKey: 'contoso',
      type: 'forward',
      connectionId: `conn-${n}`,
      payload: {
        value: [{ subscriptionId: `sub-${n}`, tenantId: 't', changeType: 'created', resource: `r/${n}${extra}` }],
      },
      metadata: { idempotencyKey: `key-${n}`, tenantId: 't', subscriptionId: `sub-${n}`, receivedAt: '2024-05-01T12:00:00.000Z', origin: 'webhook' },
    },
  };
}

function events(count: number): EventEntry[] {
  return Array.from({ length: count }, (_, i) => event(i));
}

/** Which event (by its number) an entry carries. */
function numberOf(entry: PutEventsRequestEntry): number {
  const detail = JSON.parse(entry.Detail ?? '{}') as { connectionId: string };
  return Number(detail.connectionId.replace('conn-', ''));
}

function ok(entries: readonly PutEventsRequestEntry[]): PutEventsCommandOutput {
  return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `event-${i}` })), $metadata: {} };
}

function partial(entries: readonly PutEventsRequestEntry[], failed: (n: number) => boolean): PutEventsCommandOutput {
  const results: PutEventsResultEntry[] = entries.map((entry, i) =>
    failed(numberOf(entry)) ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' } : { EventId: `event-${i}` },
  );
  return { FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length, Entries: results, $metadata: {} };
}

type Answer = (entries: PutEventsRequestEntry[], call: number) => Promise<PutEventsCommandOutput>;

function stubClient(answer: Answer) {
  const calls: PutEventsRequestEntry[][] = [];
  const commands: unknown[] = [];
  const client = {
    send: async (command: PutEventsCommand) => {
      commands.push(command);
      const entries = command.input.Entries ?? [];
      calls.push(entries);
      return answer(entries, calls.length);
    },
  };
  return { client: client as unknown as EventBridgeClient, calls, commands };
}

function publisher(client: EventBridgeClient, options: Partial<PublishOptions> = {}) {
  return new EventBridgePublisher(client, BUS, { maxAttempts: 4, concurrency: 10, delay: () => 0, ...options });
}

async function publishError(promise: Promise<unknown>): Promise<PublishError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PublishError) return error;
    throw error;
  }
  throw new Error('expected a PublishError');
}

describe('entrySize', () => {
  it('counts Source, DetailType and Detail in UTF-8 bytes, not the bus name', () => {
    // Prepare
    const entry: PutEventsRequestEntry = { EventBusName: 'a-very-long-bus-name', Source: 'src', DetailType: 'Type', Detail: '{"a":"é€"}' };

    // Act
    const size = entrySize(entry);

    // Assess: 3 + 4 + (8 ASCII + 2 + 3)
    expect(size).toBe(3 + 4 + 13);
  });

  it('adds 14 bytes for Time and the bytes of each resource', () => {
    // Prepare
    const entry: PutEventsRequestEntry = { Source: 's', DetailType: 'd', Detail: '{}', Time: new Date(0), Resources: ['arn:1', 'ü'] };

    // Act
    const size = entrySize(entry);

    // Assess
    expect(size).toBe(1 + 1 + 2 + 14 + 5 + 2);
  });
});

describe('packEntries', () => {
  const sized = (sizes: number[]) => sizes.map((size, id) => ({ id, size }));

  it('packs at most 10 entries per call, in order', () => {
    // Prepare
    const entries = sized(Array.from({ length: 25 }, () => 100));

    // Act
    const calls = packEntries(entries);

    // Assess
    expect(calls.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(calls.flat().map((e) => e.id)).toEqual(entries.map((e) => e.id));
  });

  it('starts a new call before 256 KB would be exceeded', () => {
    // Prepare
    const entries = sized([100 * 1024, 100 * 1024, 100 * 1024, 56 * 1024, 1]);

    // Act
    const calls = packEntries(entries);

    // Assess
    expect(calls.map((c) => c.map((e) => e.id))).toEqual([[0, 1], [2, 3, 4]]);
    for (const call of calls) expect(call.reduce((sum, e) => sum + e.size, 0)).toBeLessThanOrEqual(PUT_EVENTS_MAX_BYTES);
  });

  it('fills a call up to exactly 256 KB', () => {
    // Prepare
    const entries = sized([128 * 1024, 128 * 1024, 1]);

    // Act
    const calls = packEntries(entries);

    // Assess
    expect(calls.map((c) => c.length)).toEqual([2, 1]);
  });

  it('puts an entry of exactly 256 KB alone', () => {
    // Prepare
    const entries = sized([1, PUT_EVENTS_MAX_BYTES, 1]);

    // Act
    const calls = packEntries(entries);

    // Assess
    expect(calls.map((c) => c.map((e) => e.id))).toEqual([[0], [1], [2]]);
  });

  it('refuses an entry over 256 KB', () => {
    // Prepare
    const entries = sized([1, PUT_EVENTS_MAX_BYTES + 1]);

    // Act
    const pack = () => packEntries(entries);

    // Assess
    expect(pack).toThrow(EventTooLargeError);
  });

  it('packs nothing into no call', () => {
    // Prepare
    const entries = sized([]);

    // Act
    const calls = packEntries(entries);

    // Assess
    expect(calls).toEqual([]);
  });
});

describe('EventBridgePublisher', () => {
  it('publishes in PutEvents calls of at most 10 entries to the configured bus', async () => {
    // Prepare
    const stub = stubClient(async (entries) => ok(entries));
    const input = events(23);

    // Act
    const result = await publisher(stub.client).publish(input);

    // Assess
    expect(result).toEqual({ calls: 3, published: 23, retried: 0 });
    expect(stub.commands.every((c) => c instanceof PutEventsCommand)).toBe(true);
    expect(stub.calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(Math.max(...stub.calls.map((c) => c.length))).toBeLessThanOrEqual(PUT_EVENTS_MAX_ENTRIES);
    expect(stub.calls.flat().map(numberOf).sort((a, b) => a - b)).toEqual(input.map((_, i) => i));
    expect(stub.calls.flat()[0]).toEqual({
      EventBusName: BUS,
      Source: 'graph-relay',
      DetailType: 'Graph Change Notification',
      Detail: JSON.stringify(input[0]?.detail),
    });
  });

  it('makes no call for no events', async () => {
    // Prepare
    const stub = stubClient(async (entries) => ok(entries));

    // Act
    const result = await publisher(stub.client).publish([]);

    // Assess
    expect(result).toEqual({ calls: 0, published: 0, retried: 0 });
    expect(stub.calls).toHaveLength(0);
  });

  it('sizes events as the entries it sends', () => {
    // Prepare
    const stub = stubClient(async (entries) => ok(entries));
    const e = event(1);

    // Act
    const size = publisher(stub.client).sizeOf(e);

    // Assess
    expect(size).toBe(entrySize({ Source: e.source, DetailType: e.detailType, Detail: JSON.stringify(e.detail) }));
  });

  it('keeps its PutEvents calls in flight at once', async () => {
    // Prepare
    const pending: Deferred<PutEventsCommandOutput>[] = [];
    const stub = stubClient(() => {
      const d = deferred<PutEventsCommandOutput>();
      pending.push(d);
      return d.promise;
    });

    // Act
    const publishing = publisher(stub.client, { concurrency: 10 }).publish(events(30));
    await settle();
    const inFlight = pending.length;
    stub.calls.forEach((entries, i) => pending[i]?.resolve(ok(entries)));
    const result = await publishing;

    // Assess
    expect(inFlight).toBe(3);
    expect(result.published).toBe(30);
  });

  it('keeps no more calls in flight than its concurrency', async () => {
    // Prepare
    let inFlight = 0;
    let maxInFlight = 0;
    const stub = stubClient(async (entries) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await settle(2);
      inFlight -= 1;
      return ok(entries);
    });

    // Act
    const result = await publisher(stub.client, { concurrency: 2 }).publish(events(50));

    // Assess
    expect(result).toEqual({ calls: 5, published: 50, retried: 0 });
    expect(maxInFlight).toBe(2);
  });

  it('retries only the entries EventBridge reported as failed', async () => {
    // Prepare
    const stub = stubClient(async (entries, call) => (call === 1 ? partial(entries, (n) => n === 2 || n === 7) : ok(entries)));

    // Act
    const result = await publisher(stub.client).publish(events(10));

    // Assess
    expect(stub.calls).toHaveLength(2);
    expect(stub.calls[1]?.map(numberOf)).toEqual([2, 7]);
    expect(stub.calls[1]?.[0]).toEqual(stub.calls[0]?.[2]);
    expect(result).toEqual({ calls: 2, published: 10, retried: 2 });
  });

  it('retries failed entries of several calls together and waits between attempts', async () => {
    // Prepare
    const delay = jest.fn(() => 0);
    const stub = stubClient(async (entries, call) => (call <= 2 ? partial(entries, (n) => n % 5 === 0) : ok(entries)));

    // Act
    const result = await publisher(stub.client, { delay }).publish(events(20));

    // Assess
    expect(stub.calls.slice(2).flat().map(numberOf).sort((a, b) => a - b)).toEqual([0, 5, 10, 15]);
    expect(result.published).toBe(20);
    expect(result.retried).toBe(4);
    expect(delay).toHaveBeenCalledWith(1);
  });

  it('treats a missing result entry as failed', async () => {
    // Prepare
    const stub = stubClient(async (entries, call) =>
      call === 1 ? { FailedEntryCount: 0, Entries: entries.slice(0, 3).map(() => ({ EventId: 'e' })), $metadata: {} } : ok(entries),
    );

    // Act
    const result = await publisher(stub.client).publish(events(5));

    // Assess
    expect(stub.calls[1]?.map(numberOf)).toEqual([3, 4]);
    expect(result.published).toBe(5);
  });

  it('gives up after maxAttempts and names the events that are not on the bus', async () => {
    // Prepare
    const stub = stubClient(async (entries) => partial(entries, (n) => n === 4 || n === 13));

    // Act
    const error = await publishError(publisher(stub.client, { maxAttempts: 3 }).publish(events(15)));

    // Assess
    expect([...error.failedIndexes].sort((a, b) => a - b)).toEqual([4, 13]);
    expect(error.published).toBe(13);
    expect(error.retried).toBe(2 + 2);
    expect(stub.calls.slice(2)).toHaveLength(2);
    expect(stub.calls).toHaveLength(2 + 1 + 1);
  });

  it.each<[string, () => Error]>([
    ['a ThrottlingException', () => new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } })],
    ['an InternalException (500)', () => new InternalException({ message: 'oops', $metadata: { httpStatusCode: 500 } })],
    [
      'a 503',
      () => new EventBridgeServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'busy', $metadata: { httpStatusCode: 503 } }),
    ],
    [
      'a 429',
      () => new EventBridgeServiceException({ name: 'TooManyRequests', $fault: 'client', message: 'slow down', $metadata: { httpStatusCode: 429 } }),
    ],
  ])('retries a call that failed with %s', async (_label, error) => {
    // Prepare
    const stub = stubClient(async (entries, call) => {
      if (call === 1) throw error();
      return ok(entries);
    });

    // Act
    const result = await publisher(stub.client).publish(events(10));

    // Assess
    expect(stub.calls).toHaveLength(2);
    expect(stub.calls[1]?.map(numberOf)).toEqual(stub.calls[0]?.map(numberOf));
    expect(result.published).toBe(10);
  });

  it('gives up on a batch that failed with a non-retryable error and publishes the others', async () => {
    // Prepare
    const stub = stubClient(async (entries) => {
      if (entries.some((e) => numberOf(e) === 15)) {
        throw new ResourceNotFoundException({ message: 'Event bus graph-relay-bus does not exist.', $metadata: { httpStatusCode: 400 } });
      }
      return ok(entries);
    });

    // Act
    const error = await publishError(publisher(stub.client).publish(events(25)));

    // Assess
    expect([...error.failedIndexes].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
    expect(error.published).toBe(15);
    expect(stub.calls).toHaveLength(3);
    expect(error.message).toContain('ResourceNotFoundException');
  });

  it('gives up after maxAttempts on a call that keeps failing with a retryable error', async () => {
    // Prepare
    const stub = stubClient(async () => {
      throw new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    });

    // Act
    const error = await publishError(publisher(stub.client, { maxAttempts: 4 }).publish(events(3)));

    // Assess
    expect(stub.calls).toHaveLength(4);
    expect([...error.failedIndexes].sort()).toEqual([0, 1, 2]);
    expect(error.published).toBe(0);
    expect(error.retried).toBe(3 * 3);
  });

  // A bad concurrency setting (0, NaN) must never turn into "no calls made", which would look like success.
  it.each([0, Number.NaN])('never reports success for events it did not send (concurrency %s)', async (concurrency) => {
    // Prepare
    const stub = stubClient(async (entries) => ok(entries));

    // Act
    let outcome: string;
    try {
      const result = await publisher(stub.client, { concurrency }).publish(events(3));
      outcome = `published ${result.published}`;
    } catch {
      outcome = 'threw';
    }

    // Assess
    expect(['published 3', 'threw']).toContain(outcome);
  });

  it('refuses an event larger than 256 KB without calling EventBridge', async () => {
    // Prepare
    const stub = stubClient(async (entries) => ok(entries));
    const huge = event(0, 'x'.repeat(PUT_EVENTS_MAX_BYTES));

    // Act
    const publishing = publisher(stub.client).publish([huge]);

    // Assess
    await expect(publishing).rejects.toBeInstanceOf(EventTooLargeError);
    expect(stub.calls).toHaveLength(0);
  });
});

describe('RetryCountingPublisher', () => {
  it('adds up the retries of successful and failed publishes until they are taken', async () => {
    // Prepare: one entry fails once then succeeds; then a call that keeps failing for 3 attempts
    let failNext = true;
    const stub = stubClient(async (entries) => {
      if (entries.some((e) => numberOf(e) === 99)) throw new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
      if (failNext) {
        failNext = false;
        return partial(entries, (n) => n === 1);
      }
      return ok(entries);
    });
    const counting = new RetryCountingPublisher(publisher(stub.client, { maxAttempts: 3 }));

    // Act
    await counting.publish(events(3));
    await publishError(counting.publish([event(99)]));
    const taken = counting.takeRetried();
    const again = counting.takeRetried();

    // Assess
    expect(taken).toBe(1 + 2);
    expect(again).toBe(0);
  });
});

import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvalidEventPatternError, startAwsEmulator, type AwsEmulator, type EmittedEvent } from '../../local/aws-emulator';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';

let emulator: AwsEmulator;
let client: EventBridgeClient;

beforeAll(async () => {
  emulator = await startAwsEmulator();
  client = new EventBridgeClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS, endpoint: emulator.url });
  await client.send(new CreateEventBusCommand({ Name: 'relay' }));
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

const entry = (detailType: string, EventBusName = 'relay') => ({ EventBusName, Source: 'graph-relay', DetailType: detailType, Detail: JSON.stringify({ n: detailType }) });

/** Resolves with the events the listener got once `count` have arrived. */
function collect(count: number, pattern: Record<string, unknown>, listener?: (event: EmittedEvent) => unknown) {
  const received: EmittedEvent[] = [];
  let unsubscribe: () => void = () => undefined;
  const done = new Promise<EmittedEvent[]>((resolve) => {
    unsubscribe = emulator.onEvent({ eventBusName: 'relay', pattern }, (event) => {
      received.push(event);
      if (received.length === count) resolve(received);
      return listener?.(event);
    }, () => undefined);
  });
  return { done, unsubscribe: () => unsubscribe() };
}

describe('AWS emulator: in-process rules (onEvent)', () => {
  it('calls the listener with the events of its bus that match its pattern, as a rule target receives them', async () => {
    // Prepare
    const subscription = collect(1, { source: ['graph-relay'], 'detail-type': ['Graph Lifecycle Notification'] });

    // Act
    await client.send(new PutEventsCommand({ Entries: [entry('Graph Change Notification'), entry('Graph Lifecycle Notification', 'default'), entry('Graph Lifecycle Notification')] }));
    const received = await subscription.done;
    subscription.unsubscribe();

    // Assess
    expect(received).toEqual([
      expect.objectContaining({ version: '0', source: 'graph-relay', 'detail-type': 'Graph Lifecycle Notification', detail: { n: 'Graph Lifecycle Notification' } }),
    ]);
  });

  it('keeps PutEvents and later listeners working when a listener throws', async () => {
    // Prepare
    const failing = collect(1, { source: ['graph-relay'] }, () => {
      throw new Error('listener bug');
    });
    const healthy = collect(2, { source: ['graph-relay'] });

    // Act
    const first = await client.send(new PutEventsCommand({ Entries: [entry('One')] }));
    const second = await client.send(new PutEventsCommand({ Entries: [entry('Two')] }));
    const received = await healthy.done;
    failing.unsubscribe();
    healthy.unsubscribe();

    // Assess
    expect([first.FailedEntryCount, second.FailedEntryCount]).toEqual([0, 0]);
    expect(received.map((e) => e['detail-type'])).toEqual(['One', 'Two']);
  });

  it('refuses a pattern EventBridge would refuse', () => {
    // Act
    const subscribe = () => emulator.onEvent({ eventBusName: 'relay', pattern: { source: 'graph-relay' } }, () => undefined);

    // Assess
    expect(subscribe).toThrow(InvalidEventPatternError);
  });
});

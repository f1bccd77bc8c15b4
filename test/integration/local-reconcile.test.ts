/**
 * The reconciler's function on the local stack: its scheduled full run (`stack.reconcile.runNow()`, what `npm start`
 * runs on its interval) and its stream entry, given a DynamoDB Streams batch shaped as Lambda delivers it, against a
 * Graph fake (real validation handshake), DynamoDB Local and the local Secrets Manager.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { handler } from '../../functions/reconcile/handler';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'local-reconcile-app-secret~0123456789' };

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let subscriptions: DynamoDbSubscriptionsStore;
let sequence = 1000;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack({ renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
  subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
});

afterAll(async () => {
  dynamodb?.destroy();
  await t?.stop();
  await fake?.close();
});

async function integrationWithApp(): Promise<string> {
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  return integrationId;
}

function streamRecord(eventName: 'INSERT' | 'REMOVE', integrationId: string, sk: string): DynamoDBRecord {
  sequence += 1;
  return { eventName, eventSource: 'aws:dynamodb', dynamodb: { Keys: { pk: { S: `INTEGRATION#${integrationId}` }, sk: { S: sk } }, SequenceNumber: String(sequence) } };
}

const context = { getRemainingTimeInMillis: () => 120_000 };

describe('local stack: reconciler', () => {
  it('creates the declared subscription through the real handshake on a scheduled run, and records it', async () => {
    // Prepare
    const integrationId = await integrationWithApp();
    const tenantId = randomUUID();
    await t.store.addConnection({ integrationId, connectionId: 'conn-1', tenantId, subscriptions: ['users:created,updated'] });

    // Act
    const summary = await t.stack.reconcile.runNow();

    // Assess
    expect(summary).toMatchObject({ created: 1, failed: 0, deferred: 0 });
    const { subscriptions: records } = await subscriptions.listByIntegration(integrationId);
    expect(records.map((r) => [r.connectionId, r.resource, r.changeTypes, r.status])).toEqual([['conn-1', 'users', ['created', 'updated'], 'active']]);
    expect(fake.subscription(records[0]!.subscriptionId)).toMatchObject({ notificationUrl: `${t.stack.descriptor.webhookBaseUrl}${integrationId}` });
  });

  it('deletes a removed connection\'s subscriptions from a stream batch, ignoring the subscription records in it', async () => {
    // Prepare: a connection reconciled from its INSERT, then removed
    const integrationId = await integrationWithApp();
    await t.store.addConnection({ integrationId, connectionId: 'conn-2', tenantId: randomUUID(), subscriptions: ['groups:deleted'] });
    const inserted = await handler({ Records: [streamRecord('INSERT', integrationId, 'CONNECTION#conn-2')] }, context);
    const { subscriptions: before } = await subscriptions.listByIntegration(integrationId);
    const subscriptionId = before[0]?.subscriptionId ?? '';
    await t.store.removeConnection(integrationId, 'conn-2');

    // Act
    const response = await handler(
      { Records: [streamRecord('INSERT', integrationId, `SUBSCRIPTION#${subscriptionId}`), streamRecord('REMOVE', integrationId, 'CONNECTION#conn-2')] },
      context,
    );

    // Assess
    expect(inserted).toEqual({ batchItemFailures: [] });
    expect(before).toHaveLength(1);
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await subscriptions.listByIntegration(integrationId)).subscriptions).toEqual([]);
    expect(fake.subscription(subscriptionId)?.state).toBe('deleted');
  });

  it('hands the records of a connection back to the stream when Graph fails, and succeeds on the retry', async () => {
    // Prepare
    const integrationId = await integrationWithApp();
    await t.store.addConnection({ integrationId, connectionId: 'conn-3', tenantId: randomUUID(), subscriptions: ['users:deleted'] });
    const record = streamRecord('INSERT', integrationId, 'CONNECTION#conn-3');
    fake.failNext('subscriptions.create', 500, 10);

    // Act
    const failed = await handler({ Records: [record] }, context);
    fake.clearFaults();
    const retried = await handler({ Records: [record] }, context);

    // Assess
    expect(failed).toEqual({ batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber }] });
    expect(retried).toEqual({ batchItemFailures: [] });
    expect((await subscriptions.listByIntegration(integrationId)).subscriptions.map((r) => r.resource)).toEqual(['users']);
  });
});

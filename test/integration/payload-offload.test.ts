import { createHash, randomUUID } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { canonicalJson, type ForwardDetail } from '../../shared/events/contract';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { PUT_EVENTS_MAX_BYTES } from '../../shared/events/publisher';
import { notification } from '../../testkit/notification';
import { startTestStack, type TestStack } from '../support/test-stack';

let t: TestStack;
let s3: S3Client;

beforeAll(async () => {
  t = await startTestStack();
  s3 = new S3Client({ region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint: t.stack.descriptor.awsEmulatorEndpoint, forcePathStyle: true });
});

afterAll(async () => {
  s3.destroy();
  await t.stop();
});

afterEach(() => {
  t.stack.emulator.faults.clear();
});

const eventsOf = (integrationId: string) =>
  t.stack.emulator.events(t.stack.descriptor.eventBusName).filter((event) => (event.detail as unknown as ForwardDetail).providerConfigKey === integrationId);

/** A plain change notification whose resourceData is about 300 KB. */
function largeNotification(tenantId: string, clientState: string): Record<string, unknown> {
  const base = notification({ tenantId, clientState });
  return { ...base, resourceData: { ...(base['resourceData'] as Record<string, unknown>), body: 'é'.repeat(150 * 1024) } };
}

describe('local stack: events too large for EventBridge', () => {
  it('records the payload bucket in the descriptor', () => {
    // Assess
    expect(t.stack.descriptor.payloadBucket).toBe('graph-relay-local-payloads');
  });

  it('stores the full detail of a 300 KB notification in the bucket and publishes its routing fields with payloadRef', async () => {
    // Prepare
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    const sent = largeNotification(tenantId, webhookSecret);
    const { clientState: _secret, ...published } = sent;

    // Act
    const response = await t.post(integrationId, { value: [sent] });
    const [event] = eventsOf(integrationId);
    const detail = event?.detail as unknown as ForwardDetail;
    const ref = detail.payloadRef!;
    const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());

    // Assess
    expect(response.status).toBe(202);
    expect(eventsOf(integrationId)).toHaveLength(1);
    expect(ref.bucket).toBe(t.stack.descriptor.payloadBucket);
    expect(ref.region).toBe(t.stack.descriptor.region);
    expect(detail.metadata.region).toBe(t.stack.descriptor.region);
    expect(ref.key).toMatch(new RegExp(`^${integrationId}/\\d{4}/\\d{2}/\\d{2}/${detail.metadata.idempotencyKey}/conn-1/${ref.sha256}\\.json$`));
    expect(object.ContentType).toBe('application/json');
    expect(bytes.length).toBe(ref.size);
    expect(bytes.length).toBeGreaterThan(PUT_EVENTS_MAX_BYTES);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256);
    // Byte for byte the detail that would have been published: the event's own fields, the whole notification.
    const { payloadRef: _ref, ...routing } = detail;
    const full = JSON.parse(bytes.toString('utf8')) as ForwardDetail;
    expect(bytes.toString('utf8')).toBe(JSON.stringify({ ...routing, payload: { value: [full.payload.value[0]] } }));
    expect(canonicalJson(full.payload.value[0])).toBe(canonicalJson(published));
    expect(full).toEqual({ ...routing, payload: { value: [published] } });
    expect(detail.payload.value[0]).toEqual(expect.objectContaining({ changeType: 'updated', resource: sent['resource'], tenantId, subscriptionId: sent['subscriptionId'] }));
    expect(detailSchemas[event!['detail-type'] as keyof typeof detailSchemas].safeParse(event!.detail).error).toBeUndefined();
  });

  it('makes no S3 call for a request whose events all fit on the bus', async () => {
    // Prepare
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    t.stack.emulator.resetStats();

    // Act
    const response = await t.post(integrationId, { value: [notification({ tenantId, clientState: webhookSecret })] });

    // Assess
    expect(response.status).toBe(202);
    expect(eventsOf(integrationId).map((event) => (event.detail as unknown as ForwardDetail).payloadRef)).toEqual([undefined]);
    expect(t.stack.emulator.stats()).toEqual(expect.objectContaining({ PutEvents: 1 }));
    expect(Object.keys(t.stack.emulator.stats()).filter((operation) => /Object|Bucket/.test(operation))).toEqual([]);
  });

  it('answers 503 and publishes nothing when the bucket refuses the object, then publishes on redelivery', async () => {
    // Prepare
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    const sent = largeNotification(tenantId, webhookSecret);
    // Every attempt the SDK makes fails, then the fault is used up.
    t.stack.emulator.faults.inject({ operation: 'PutObject', mode: 'error', errorCode: 'InternalError', status: 500, times: 3 });

    // Act
    const refused = await t.post(integrationId, { value: [sent] });
    const eventsAfterRefusal = eventsOf(integrationId).length;
    const redelivered = await t.post(integrationId, { value: [sent] });

    // Assess
    expect(refused.status).toBe(503);
    expect(refused.json()).toEqual(expect.objectContaining({ error: 'cannot store a large payload in the payload bucket; Graph will redeliver', published: 0 }));
    expect(eventsAfterRefusal).toBe(0);
    expect(redelivered.status).toBe(202);
    expect(eventsOf(integrationId)).toHaveLength(1);
  });
});

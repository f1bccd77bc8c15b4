import { createHash } from 'node:crypto';
import { ConfigError } from '../../shared/config/env-parsing';
import { PAYLOAD_BUCKET_ENV } from '../../shared/config/env-names';
import { loadIntakeConfig } from '../../shared/config/intake-config';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { buildEvents, idempotencyKey, routingEvent, type EventEntry, type PayloadRef } from '../../shared/events/contract';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { lazyPayloadStore, payloadKey, payloadRefOf, PayloadStoreError, sha256Of, type PayloadStore } from '../../shared/events/payload-store';
import { S3PayloadStore } from '../../shared/events/s3-payload-store';
import type { ChangeNotification } from '../../shared/graph/change-notification';
import { changeNotification, lifecycleNotification, INTEGRATION_ID, PROVIDER, EVENT_SOURCE, TENANT_A } from '../support/fakes';

const KEY = 'a'.repeat(64);
const REF: PayloadRef = { bucket: 'payloads', key: `${INTEGRATION_ID}/2024/05/01/${KEY}/conn-1.json`, size: 1, sha256: 'b'.repeat(64) };

function eventOf(notification: ChangeNotification, connectionIds: string[] = ['conn-1']): EventEntry {
  const [event] = buildEvents({
    source: EVENT_SOURCE,
    provider: PROVIDER,
    integrationId: INTEGRATION_ID,
    notification,
    idempotencyKey: idempotencyKey(INTEGRATION_ID, notification),
    connectionIds,
    receivedAt: '2024-05-01T12:00:00.000Z',
  });
  return event!;
}

const SHA = 'ab'.repeat(32);

describe('payloadKey', () => {
  it('groups objects by integration and UTC day, then notification and connection, and ends with the body\'s hash', () => {
    // Act
    const routed = payloadKey({ integrationId: 'contoso', receivedAt: '2024-05-01T23:59:59.999Z', idempotencyKey: KEY, connectionId: 'conn:1@x', sha256: SHA });
    const unrouted = payloadKey({ integrationId: 'contoso', receivedAt: '2024-12-31T00:00:00.000+01:00', idempotencyKey: KEY, connectionId: null, sha256: SHA });

    // Assess
    expect(routed).toBe(`contoso/2024/05/01/${KEY}/conn:1@x/${SHA}.json`);
    expect(unrouted).toBe(`contoso/2024/12/30/${KEY}/unrouted/${SHA}.json`);
  });

  it('gives two bodies of one notification and connection on one day two keys', () => {
    // Prepare
    const input = { integrationId: 'contoso', receivedAt: '2024-05-01T08:00:00.000Z', idempotencyKey: KEY, connectionId: 'conn-1' };

    // Act
    const first = payloadKey({ ...input, sha256: sha256Of('{"receivedAt":"08:00"}') });
    const redelivered = payloadKey({ ...input, receivedAt: '2024-05-01T09:00:00.000Z', sha256: sha256Of('{"receivedAt":"09:00"}') });

    // Assess
    expect(first).not.toBe(redelivered);
  });

  it('refuses a receivedAt that is not a date', () => {
    // Act
    const key = () => payloadKey({ integrationId: 'contoso', receivedAt: 'yesterday', idempotencyKey: KEY, connectionId: null, sha256: SHA });

    // Assess
    expect(key).toThrow('receivedAt is not a date: yesterday');
  });

  it('refuses a hash that is not a hex SHA-256', () => {
    // Act
    const key = () => payloadKey({ integrationId: 'contoso', receivedAt: '2024-05-01T00:00:00Z', idempotencyKey: KEY, connectionId: null, sha256: '../other' });

    // Assess
    expect(key).toThrow('sha256 is not 64 lowercase hex digits: ../other');
  });
});

describe('payloadRefOf', () => {
  it('records the UTF-8 size and the SHA-256 of the exact body', () => {
    // Prepare
    const body = JSON.stringify({ text: 'é€😀' });

    // Act
    const ref = payloadRefOf({ region: 'eu-west-1', bucket: 'payloads', key: 'k.json' }, body);

    // Assess
    expect(ref).toEqual({
      region: 'eu-west-1',
      bucket: 'payloads',
      key: 'k.json',
      size: Buffer.from(body, 'utf8').length,
      sha256: createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex'),
    });
    expect(ref.size).toBeGreaterThan(body.length);
  });
});

describe('routingEvent', () => {
  it('keeps the routing fields and metadata, drops the heavy and unknown fields of the notification, and adds payloadRef', () => {
    // Prepare
    const { clientState: _secret, ...graphFields } = changeNotification({ tenantId: TENANT_A, id: 'n-1' });
    const notification = { ...graphFields, decryptedContent: { body: 'x'.repeat(1000) }, encryptedContent: { data: 'y' }, extra: 'z' } as ChangeNotification;
    const event = eventOf(notification);

    // Act
    const routing = routingEvent(event, REF);

    // Assess
    expect(routing.source).toBe(event.source);
    expect(routing.detailType).toBe(event.detailType);
    expect(routing.detail).toEqual({
      from: PROVIDER,
      providerConfigKey: INTEGRATION_ID,
      type: 'forward',
      connectionId: 'conn-1',
      payload: {
        value: [
          {
            subscriptionId: graphFields.subscriptionId,
            tenantId: graphFields.tenantId,
            changeType: graphFields.changeType,
            resource: graphFields.resource,
            subscriptionExpirationDateTime: graphFields.subscriptionExpirationDateTime,
            resourceData: graphFields.resourceData,
            id: 'n-1',
          },
        ],
      },
      metadata: event.detail.metadata,
      payloadRef: REF,
    });
    expect(detailSchemas[routing.detailType].safeParse(JSON.parse(JSON.stringify(routing.detail))).error).toBeUndefined();
  });

  it('keeps lifecycleEvent for lifecycle notifications', () => {
    // Prepare
    const event = eventOf(lifecycleNotification({ lifecycleEvent: 'missed' }));

    // Act
    const routing = routingEvent(event, REF);

    // Assess
    expect(routing.detail.payload.value[0]).toEqual(expect.objectContaining({ lifecycleEvent: 'missed' }));
    expect(detailSchemas[routing.detailType].safeParse(JSON.parse(JSON.stringify(routing.detail))).error).toBeUndefined();
  });

  it('reduces resourceData to the fields that identify the resource when asked', () => {
    // Prepare
    const resourceData = { '@odata.type': '#Microsoft.Graph.Message', '@odata.id': 'Users/u/Messages/m', '@odata.etag': 'W/"1"', id: 'm', body: 'x'.repeat(100) };
    const event = eventOf(changeNotification({ resourceData }));

    // Act
    const whole = routingEvent(event, REF);
    const identity = routingEvent(event, REF, { identityOnly: true });

    // Assess
    expect(whole.detail.payload.value[0].resourceData).toEqual(resourceData);
    expect(identity.detail.payload.value[0].resourceData).toEqual({ '@odata.type': '#Microsoft.Graph.Message', '@odata.id': 'Users/u/Messages/m', '@odata.etag': 'W/"1"', id: 'm' });
    expect(event.detail.payload.value[0].resourceData).toEqual(resourceData);
  });
});

describe('lazyPayloadStore', () => {
  const object = { key: 'k.json', body: '{}', sha256: 'c'.repeat(64) };

  it('loads the implementation on the first put only, then reuses it', async () => {
    // Prepare
    const puts: string[] = [];
    const load = jest.fn(async (): Promise<PayloadStore> => ({ bucket: 'payloads', put: async (o) => void puts.push(o.key) }));
    const store = lazyPayloadStore('payloads', load);
    const loadsBeforePut = load.mock.calls.length;

    // Act
    await store.put(object);
    await store.put({ ...object, key: 'other.json' });

    // Assess
    expect(store.bucket).toBe('payloads');
    expect(loadsBeforePut).toBe(0);
    expect(load).toHaveBeenCalledTimes(1);
    expect(puts).toEqual(['k.json', 'other.json']);
  });

  it('loads again after a failed load rather than remembering the failure', async () => {
    // Prepare
    const load = jest
      .fn<Promise<PayloadStore>, []>()
      .mockRejectedValueOnce(new Error('chunk missing'))
      .mockResolvedValue({ bucket: 'payloads', put: async () => undefined });
    const store = lazyPayloadStore('payloads', load);

    // Act
    const first = await store.put(object).then(() => 'stored', (error: Error) => error.message);
    const second = await store.put(object).then(() => 'stored');

    // Assess
    expect(first).toBe('chunk missing');
    expect(second).toBe('stored');
    expect(load).toHaveBeenCalledTimes(2);
  });
});

describe('S3PayloadStore', () => {
  it('puts the JSON with its content type and SHA-256 checksum', async () => {
    // Prepare
    const client = new S3Client({ region: 'us-east-1' });
    const send = jest.spyOn(client, 'send').mockResolvedValue({} as never);
    const body = '{"a":1}';
    const sha256 = createHash('sha256').update(body).digest('hex');

    // Act
    await new S3PayloadStore(client, 'payloads').put({ key: 'k.json', body, sha256 });

    // Assess
    expect(send).toHaveBeenCalledTimes(1);
    const command = send.mock.calls[0]?.[0] as PutObjectCommand;
    expect(command).toBeInstanceOf(PutObjectCommand);
    expect(command.input).toEqual({
      Bucket: 'payloads',
      Key: 'k.json',
      Body: body,
      ContentType: 'application/json',
      ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
    });
  });

  it('turns any S3 failure into a PayloadStoreError naming the object', async () => {
    // Prepare
    const client = new S3Client({ region: 'us-east-1' });
    jest
      .spyOn(client, 'send')
      .mockRejectedValue(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }) as never);

    // Act
    const error = await new S3PayloadStore(client, 'payloads').put({ key: 'k.json', body: '{}', sha256: 'c'.repeat(64) }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PayloadStoreError);
    expect((error as Error).message).toBe('cannot store s3://payloads/k.json (AccessDenied: Access Denied)');
  });
});

describe('loadIntakeConfig: PAYLOAD_BUCKET', () => {
  const required = { CONNECTIONS_TABLE_NAME: 'c', DELIVERIES_TABLE_NAME: 'd', EVENT_BUS_NAME: 'b', WEBHOOK_SECRET_PREFIX: 'p/', AWS_REGION: 'eu-west-1' };

  it.each([
    ['graph-relay-payloads-1', 'graph-relay-payloads-1'],
    ['', undefined],
    [undefined, undefined],
  ])('reads %p as the payload bucket %p', (value, expected) => {
    // Act
    const config = loadIntakeConfig({ ...required, ...(value === undefined ? {} : { [PAYLOAD_BUCKET_ENV]: value }) });

    // Assess
    expect(config.payloadBucket).toBe(expected);
  });

  it('refuses a value that is not a bucket name, naming the variable', () => {
    // Act
    const load = () => loadIntakeConfig({ ...required, [PAYLOAD_BUCKET_ENV]: 'Not_A_Bucket' });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(PAYLOAD_BUCKET_ENV);
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  InternalException,
  ListEventBusesCommand,
  PutEventsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException as EventBusNotFoundException,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { InvalidFaultError, startAwsEmulator, type AwsEmulator, type EmittedEvent } from '../../local/aws-emulator';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const LIMIT_BYTES = 256 * 1024;
const EVENT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const SECRET_ARN = /^arn:aws:secretsmanager:us-east-1:000000000000:secret:graph-relay\/webhook-[A-Za-z0-9]{6}$/;

function eventBridgeClient(emulator: AwsEmulator, maxAttempts?: number): EventBridgeClient {
  return new EventBridgeClient({ endpoint: emulator.url, region: 'us-east-1', credentials, maxAttempts });
}

function secretsClient(emulator: AwsEmulator, maxAttempts?: number): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint: emulator.url, region: 'us-east-1', credentials, maxAttempts });
}

function entry(overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry {
  return { Source: 'graph-relay.test', DetailType: 'Notification', Detail: JSON.stringify({ n: 1 }), ...overrides };
}

/** A JSON object detail of exactly `bytes` UTF-8 bytes, mostly two-byte characters so byte (not character) counting is exercised. */
function detailOfBytes(bytes: number): string {
  const overhead = Buffer.byteLength('{"pad":""}');
  const twoByte = Math.floor((bytes - overhead) / 2);
  const detail = JSON.stringify({ pad: 'é'.repeat(twoByte) + 'x'.repeat(bytes - overhead - twoByte * 2) });
  expect(Buffer.byteLength(detail)).toBe(bytes);
  return detail;
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

async function postRaw(emulator: AwsEmulator, target: string | undefined, body: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1' };
  if (target !== undefined) headers['x-amz-target'] = target;
  return fetch(`${emulator.url}/`, { method: 'POST', headers, body });
}

describe('AWS emulator', () => {
  let emulator: AwsEmulator;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aws-emulator-'));
    emulator = await startAwsEmulator({ dataDir });
  });

  afterEach(async () => {
    await emulator.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('EventBridge PutEvents', () => {
    it('rejects a request with 11 entries as a ValidationException and accepts 10', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const eleven = Array.from({ length: 11 }, () => entry());

      // Act
      const error = await rejectionOf(client.send(new PutEventsCommand({ Entries: eleven })));
      const ten = await client.send(new PutEventsCommand({ Entries: eleven.slice(1) }));

      // Assess
      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain("at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10");
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(ten.FailedEntryCount).toBe(0);
      expect(emulator.events()).toHaveLength(10);
    });

    it('rejects a request with no entries', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);

      // Act
      const error = await rejectionOf(client.send(new PutEventsCommand({ Entries: [] })));

      // Assess
      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain('Member must have length greater than or equal to 1');
    });

    it('accepts a request whose entries total exactly 256 KB as AWS sizes them, and rejects one byte more', async () => {
      // Prepare: Time counts 14 bytes; Source, DetailType, Detail and each resource count their UTF-8 bytes.
      const client = eventBridgeClient(emulator);
      const fixed = Buffer.byteLength('graph-relay.test') + Buffer.byteLength('Notification');
      const small = entry({ Time: new Date(), Resources: ['arn:aws:s3:::bucket-é'] });
      const smallSize = 14 + fixed + Buffer.byteLength(small.Detail ?? '') + Buffer.byteLength('arn:aws:s3:::bucket-é');
      const atLimit = [small, entry({ Detail: detailOfBytes(LIMIT_BYTES - smallSize - fixed) })];
      const overLimit = [small, entry({ Detail: detailOfBytes(LIMIT_BYTES - smallSize - fixed + 1) })];

      // Act
      const accepted = await client.send(new PutEventsCommand({ Entries: atLimit }));
      const error = await rejectionOf(client.send(new PutEventsCommand({ Entries: overLimit })));

      // Assess
      expect(accepted.FailedEntryCount).toBe(0);
      expect(accepted.Entries?.every((result) => result.EventId !== undefined)).toBe(true);
      expect(error.name).toBe('ValidationException');
      expect(error.message).toBe('Total size of the entries in the request is over the limit.');
      expect(emulator.events()).toHaveLength(2);
    });

    it('reports invalid entries one by one, counts them, and still delivers the valid ones in order', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const entries = [
        entry({ Detail: JSON.stringify({ n: 1 }) }),
        entry({ Source: undefined }),
        entry({ DetailType: undefined }),
        entry({ Detail: undefined }),
        entry({ Detail: 'not json' }),
        entry({ Detail: '[1,2]' }),
        entry({ Detail: JSON.stringify('{"a":1}') }),
        entry({ Detail: JSON.stringify({ n: 2 }) }),
      ];

      // Act
      const result = await client.send(new PutEventsCommand({ Entries: entries }));

      // Assess
      expect(result.FailedEntryCount).toBe(6);
      expect(result.Entries?.map((r) => r.ErrorCode ?? 'ok')).toEqual([
        'ok',
        'InvalidArgument',
        'InvalidArgument',
        'InvalidArgument',
        'MalformedDetail',
        'MalformedDetail',
        'MalformedDetail',
        'ok',
      ]);
      expect(result.Entries?.[1]?.ErrorMessage).toBe('Parameter Source is not valid. Reason: Source is a required argument.');
      expect(result.Entries?.[2]?.ErrorMessage).toBe('Parameter DetailType is not valid. Reason: DetailType is a required argument.');
      expect(result.Entries?.[3]?.ErrorMessage).toBe('Parameter Detail is not valid. Reason: Detail is a required argument.');
      expect(result.Entries?.[4]?.ErrorMessage).toBe('Detail is malformed.');
      expect(emulator.events().map((event) => event.detail)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(emulator.events().map((event) => event.id)).toEqual([result.Entries?.[0]?.EventId, result.Entries?.[7]?.EventId]);
    });

    it('accepts entries for a bus that does not exist but delivers them nowhere, as AWS does', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);

      // Act
      const result = await client.send(new PutEventsCommand({ Entries: [entry({ EventBusName: 'no-such-bus' })] }));
      const describeError = await rejectionOf(client.send(new DescribeEventBusCommand({ Name: 'no-such-bus' })));

      // Assess
      expect(result.FailedEntryCount).toBe(0);
      expect(result.Entries?.[0]?.EventId).toEqual(expect.any(String));
      expect(emulator.events()).toEqual([]);
      expect(describeError).toBeInstanceOf(EventBusNotFoundException);
      expect(describeError.message).toBe('Event bus no-such-bus does not exist.');
    });

    it('delivers to a custom bus named by name or by ARN, and filters events by bus', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const { EventBusArn } = await client.send(new CreateEventBusCommand({ Name: 'graph-relay' }));

      // Act
      await client.send(
        new PutEventsCommand({
          Entries: [
            entry({ EventBusName: 'graph-relay', Detail: '{"via":"name"}' }),
            entry({ EventBusName: EventBusArn, Detail: '{"via":"arn"}' }),
            entry({ Detail: '{"via":"default"}' }),
          ],
        }),
      );

      // Assess
      expect(EventBusArn).toBe('arn:aws:events:us-east-1:000000000000:event-bus/graph-relay');
      expect(emulator.events('graph-relay').map((event) => event.detail)).toEqual([{ via: 'name' }, { via: 'arn' }]);
      expect(emulator.events('default').map((event) => event.detail)).toEqual([{ via: 'default' }]);
      expect(emulator.events()).toHaveLength(3);
    });

    it('writes each delivered event to events.ndjson exactly as a rule target receives it', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const resources = ['arn:aws:graph:::subscription/abc'];

      // Act
      const result = await client.send(
        new PutEventsCommand({
          Entries: [
            entry({ Time: new Date('2026-11-25T21:36:28.750Z'), Resources: resources, Detail: '{"tenant":"t1","nested":{"a":[1]}}' }),
            entry(),
          ],
        }),
      );
      const lines = (await readFile(join(dataDir, 'events.ndjson'), 'utf8')).trimEnd().split('\n');
      const written = lines.map((line) => JSON.parse(line) as EmittedEvent);

      // Assess
      expect(written).toHaveLength(2);
      expect(written[0]).toEqual({
        version: '0',
        id: result.Entries?.[0]?.EventId,
        'detail-type': 'Notification',
        source: 'graph-relay.test',
        account: '000000000000',
        time: '2026-11-25T21:36:28Z',
        region: 'us-east-1',
        resources,
        detail: { tenant: 't1', nested: { a: [1] } },
      });
      expect(Object.keys(written[1] ?? {})).toEqual([
        'version',
        'id',
        'detail-type',
        'source',
        'account',
        'time',
        'region',
        'resources',
        'detail',
      ]);
      expect(written[1]?.time).toMatch(EVENT_TIME);
      expect(written[1]?.resources).toEqual([]);
      expect(emulator.events()).toEqual(written);
    });
  });

  describe('EventBridge buses', () => {
    it('creates, lists, describes and deletes buses with the errors AWS returns', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      await client.send(new CreateEventBusCommand({ Name: 'relay-a', Description: 'first' }));

      // Act
      const duplicate = await rejectionOf(client.send(new CreateEventBusCommand({ Name: 'relay-a' })));
      const deleteDefault = await rejectionOf(client.send(new DeleteEventBusCommand({ Name: 'default' })));
      const listed = await client.send(new ListEventBusesCommand({}));
      const described = await client.send(new DescribeEventBusCommand({ Name: 'relay-a' }));
      const defaultBus = await client.send(new DescribeEventBusCommand({}));
      await client.send(new DeleteEventBusCommand({ Name: 'relay-a' }));
      await client.send(new DeleteEventBusCommand({ Name: 'never-existed' }));
      const afterDelete = await client.send(new ListEventBusesCommand({ NamePrefix: 'relay' }));

      // Assess
      expect(duplicate).toBeInstanceOf(ResourceAlreadyExistsException);
      expect(duplicate.message).toBe('Event bus relay-a already exists.');
      expect(deleteDefault.name).toBe('ValidationException');
      expect(deleteDefault.message).toBe('Cannot delete event bus default.');
      expect(listed.EventBuses?.map((bus) => bus.Name)).toEqual(['default', 'relay-a']);
      expect(described).toMatchObject({ Name: 'relay-a', Description: 'first', CreationTime: expect.any(Date) });
      expect(defaultBus.Arn).toBe('arn:aws:events:us-east-1:000000000000:event-bus/default');
      expect(afterDelete.EventBuses).toEqual([]);
    });
  });

  describe('Secrets Manager', () => {
    it('rotates AWSCURRENT to AWSPREVIOUS on each new value', async () => {
      // Prepare
      const client = secretsClient(emulator);
      const created = await client.send(
        new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v1', Description: 'client state' }),
      );

      // Act
      const first = await client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' }));
      const put = await client.send(new PutSecretValueCommand({ SecretId: 'graph-relay/webhook', SecretString: 'v2' }));
      const current = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
      const previous = await client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook', VersionStage: 'AWSPREVIOUS' }));
      const updated = await client.send(new UpdateSecretCommand({ SecretId: 'graph-relay/webhook', SecretString: 'v3' }));
      const described = await client.send(new DescribeSecretCommand({ SecretId: 'graph-relay/webhook' }));

      // Assess
      expect(created.ARN).toMatch(SECRET_ARN);
      expect(first).toMatchObject({ SecretString: 'v1', VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });
      expect(first.CreatedDate).toBeInstanceOf(Date);
      expect(put.VersionStages).toEqual(['AWSCURRENT']);
      expect(current).toMatchObject({ SecretString: 'v2', VersionId: put.VersionId });
      expect(previous).toMatchObject({ SecretString: 'v1', VersionId: created.VersionId, VersionStages: ['AWSPREVIOUS'] });
      expect(described.VersionIdsToStages).toEqual({
        [put.VersionId ?? '']: ['AWSPREVIOUS'],
        [updated.VersionId ?? '']: ['AWSCURRENT'],
      });
      expect(described.Description).toBe('client state');
    });

    it('throws ResourceNotFoundException for a secret that does not exist', async () => {
      // Prepare
      const client = secretsClient(emulator);

      // Act
      const error = await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/missing' })));

      // Assess
      expect(error).toBeInstanceOf(ResourceNotFoundException);
      expect(error.message).toBe("Secrets Manager can't find the specified secret.");
      expect(error.$metadata?.httpStatusCode).toBe(400);
    });

    it('throws ResourceExistsException when creating a secret twice', async () => {
      // Prepare
      const client = secretsClient(emulator);
      await client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v1' }));

      // Act
      const error = await rejectionOf(client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v2' })));

      // Assess
      expect(error).toBeInstanceOf(ResourceExistsException);
      expect(error.message).toBe('The operation failed because the secret graph-relay/webhook already exists.');
    });

    it('marks a secret for deletion, then removes it for good when forced', async () => {
      // Prepare
      const client = secretsClient(emulator);
      const created = await client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v1' }));

      // Act
      const scheduled = await client.send(new DeleteSecretCommand({ SecretId: 'graph-relay/webhook', RecoveryWindowInDays: 7 }));
      const whileMarked = await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' })));
      const recreateWhileMarked = await rejectionOf(client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook' })));
      const listedActive = await client.send(new ListSecretsCommand({}));
      const listedAll = await client.send(new ListSecretsCommand({ IncludePlannedDeletion: true }));
      await client.send(new DeleteSecretCommand({ SecretId: 'graph-relay/webhook', ForceDeleteWithoutRecovery: true }));
      const afterForce = await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' })));
      const recreated = await client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v2' }));

      // Assess
      expect(scheduled.DeletionDate?.getTime()).toBeGreaterThan(Date.now() + 6.9 * 86_400_000);
      expect(whileMarked).toBeInstanceOf(InvalidRequestException);
      expect(whileMarked.message).toBe("You can't perform this operation on the secret because it was marked for deletion.");
      expect(recreateWhileMarked).toBeInstanceOf(InvalidRequestException);
      expect(listedActive.SecretList).toEqual([]);
      expect(listedAll.SecretList?.[0]?.DeletedDate).toEqual(scheduled.DeletionDate);
      expect(afterForce).toBeInstanceOf(ResourceNotFoundException);
      expect(recreated.ARN).toMatch(SECRET_ARN);
      expect(recreated.ARN).not.toBe(created.ARN);
    });

    it('lists secrets by name prefix, with negation and NextToken paging', async () => {
      // Prepare
      const client = secretsClient(emulator);
      for (const name of ['graph-relay/a', 'graph-relay/b', 'graph-relay/c', 'other/x']) {
        await client.send(new CreateSecretCommand({ Name: name, SecretString: name }));
      }
      const byPrefix = [{ Key: 'name' as const, Values: ['graph-relay/'] }];

      // Act
      const firstPage = await client.send(new ListSecretsCommand({ Filters: byPrefix, MaxResults: 2 }));
      const secondPage = await client.send(new ListSecretsCommand({ Filters: byPrefix, MaxResults: 2, NextToken: firstPage.NextToken }));
      const negated = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['!graph-relay/'] }] }));

      // Assess
      expect(firstPage.SecretList?.map((secret) => secret.Name)).toEqual(['graph-relay/a', 'graph-relay/b']);
      expect(firstPage.NextToken).toEqual(expect.any(String));
      expect(secondPage.SecretList?.map((secret) => secret.Name)).toEqual(['graph-relay/c']);
      expect(secondPage.NextToken).toBeUndefined();
      expect(negated.SecretList?.map((secret) => secret.Name)).toEqual(['other/x']);
    });

    it('keeps secrets across a restart with the same dataDir', async () => {
      // Prepare
      const client = secretsClient(emulator);
      const created = await client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v1' }));
      await client.send(new PutSecretValueCommand({ SecretId: 'graph-relay/webhook', SecretString: 'v2' }));
      await emulator.close();

      // Act
      emulator = await startAwsEmulator({ dataDir });
      const restarted = secretsClient(emulator);
      const current = await restarted.send(new GetSecretValueCommand({ SecretId: created.ARN }));
      const previous = await restarted.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook', VersionStage: 'AWSPREVIOUS' }));

      // Assess
      expect(current).toMatchObject({ ARN: created.ARN, SecretString: 'v2' });
      expect(previous).toMatchObject({ SecretString: 'v1', VersionId: created.VersionId });
      expect(JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8'))).toMatchObject({
        secrets: [expect.objectContaining({ name: 'graph-relay/webhook' })],
      });
    });

  });

  describe('endpoint configuration', () => {
    const variables = ['AWS_ENDPOINT_URL_EVENTBRIDGE', 'AWS_ENDPOINT_URL_SECRETS_MANAGER'] as const;
    const saved = new Map<string, string | undefined>();

    beforeEach(() => variables.forEach((name) => saved.set(name, process.env[name])));

    afterEach(() =>
      saved.forEach((value, name) => {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }),
    );

    it('is reachable through the AWS_ENDPOINT_URL_* variables alone', async () => {
      // Prepare
      variables.forEach((name) => (process.env[name] = emulator.url));
      const events = new EventBridgeClient({ region: 'us-east-1', credentials });
      const secrets = new SecretsManagerClient({ region: 'us-east-1', credentials });

      // Act
      const put = await events.send(new PutEventsCommand({ Entries: [entry()] }));
      const created = await secrets.send(new CreateSecretCommand({ Name: 'graph-relay/env', SecretString: 'v' }));

      // Assess
      expect(put.FailedEntryCount).toBe(0);
      expect(created.Name).toBe('graph-relay/env');
      expect(emulator.stats()).toEqual({ PutEvents: 1, CreateSecret: 1 });
    });

    it('uses the configured region and account in ARNs and events', async () => {
      // Prepare
      await emulator.close();
      emulator = await startAwsEmulator({ region: 'eu-west-1', accountId: '123456789012' });
      const client = new EventBridgeClient({ endpoint: emulator.url, region: 'eu-west-1', credentials });

      // Act
      const bus = await client.send(new DescribeEventBusCommand({}));
      await client.send(new PutEventsCommand({ Entries: [entry({ EventBusName: bus.Arn })] }));

      // Assess
      expect(bus.Arn).toBe('arn:aws:events:eu-west-1:123456789012:event-bus/default');
      expect(emulator.events()[0]).toMatchObject({ region: 'eu-west-1', account: '123456789012' });
    });
  });

  describe('fault injection', () => {
    it('fails whole calls in error mode for the given number of times', async () => {
      // Prepare
      const client = eventBridgeClient(emulator, 1);
      emulator.faults.inject({ operation: 'PutEvents', mode: 'error', errorCode: 'InternalException', times: 2 });

      // Act
      const first = await rejectionOf(client.send(new PutEventsCommand({ Entries: [entry()] })));
      const second = await rejectionOf(client.send(new PutEventsCommand({ Entries: [entry()] })));
      const third = await client.send(new PutEventsCommand({ Entries: [entry()] }));

      // Assess
      expect(first).toBeInstanceOf(InternalException);
      expect(first.$metadata?.httpStatusCode).toBe(500);
      expect(second).toBeInstanceOf(InternalException);
      expect(third.FailedEntryCount).toBe(0);
      expect(emulator.events()).toHaveLength(1);
      expect(emulator.stats()).toEqual({ PutEvents: 3 });
      expect(emulator.faults.list()).toEqual([]);
    });

    it('lets the SDK retry through a single transient failure', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      emulator.faults.inject({ operation: 'PutEvents', mode: 'error', errorCode: 'ServiceUnavailable', times: 1 });

      // Act
      const result = await client.send(new PutEventsCommand({ Entries: [entry()] }));

      // Assess
      expect(result.FailedEntryCount).toBe(0);
      expect(emulator.stats()).toEqual({ PutEvents: 2 });
    });

    it('fails some entries in partial mode and accepts the rest', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      emulator.faults.inject({ operation: 'PutEvents', mode: 'partial', failEntries: 2, times: 1 });
      const entries = [1, 2, 3].map((n) => entry({ Detail: JSON.stringify({ n }) }));

      // Act
      const partial = await client.send(new PutEventsCommand({ Entries: entries }));
      const retried = await client.send(new PutEventsCommand({ Entries: entries.slice(0, 2) }));

      // Assess
      expect(partial.FailedEntryCount).toBe(2);
      expect(partial.Entries?.map((r) => r.ErrorCode ?? r.EventId)).toEqual(['InternalFailure', 'InternalFailure', expect.any(String)]);
      expect(retried.FailedEntryCount).toBe(0);
      expect(emulator.events().map((event) => event.detail)).toEqual([{ n: 3 }, { n: 1 }, { n: 2 }]);
    });

    it('makes a secret unreadable through the HTTP control endpoint until cleared', async () => {
      // Prepare
      const client = secretsClient(emulator, 1);
      await client.send(new CreateSecretCommand({ Name: 'graph-relay/webhook', SecretString: 'v1' }));
      const injected = await fetch(`${emulator.url}/_emulator/faults`, {
        method: 'POST',
        body: JSON.stringify({ operation: 'GetSecretValue', mode: 'error', errorCode: 'InternalServiceError' }),
      });

      // Act
      const failures = [
        await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' }))),
        await rejectionOf(client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' }))),
      ];
      const cleared = await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
      const value = await client.send(new GetSecretValueCommand({ SecretId: 'graph-relay/webhook' }));

      // Assess
      expect(injected.status).toBe(200);
      expect(failures.every((error) => error instanceof InternalServiceError)).toBe(true);
      expect(failures[0]?.$metadata?.httpStatusCode).toBe(500);
      expect(cleared.status).toBe(200);
      expect(await cleared.json()).toEqual([]);
      expect(value.SecretString).toBe('v1');
    });

    it('refuses faults for unknown operations or partial faults outside PutEvents', async () => {
      // Prepare
      const badOverHttp = { operation: 'GetSecret', mode: 'error' };

      // Act
      const response = await fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(badOverHttp) });
      const inProcess = (): void => emulator.faults.inject({ operation: 'GetSecretValue', mode: 'partial', failEntries: 1 } as never);

      // Assess
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toContain('Unknown operation GetSecret');
      expect(inProcess).toThrow(InvalidFaultError);
      expect(emulator.faults.list()).toEqual([]);
    });
  });

  describe('protocol and control endpoints', () => {
    it('answers malformed JSON with SerializationException in the AWS error shape', async () => {
      // Act
      const response = await postRaw(emulator, 'AWSEvents.PutEvents', '{"Entries": [');

      // Assess
      expect(response.status).toBe(400);
      expect(response.headers.get('x-amzn-errortype')).toBe('SerializationException');
      expect(await response.json()).toEqual({ __type: 'SerializationException', message: expect.any(String) });
    });

    it('answers wrongly typed members with SerializationException', async () => {
      // Act
      const response = await postRaw(emulator, 'AWSEvents.PutEvents', '{"Entries": "not a list"}');

      // Assess
      expect(response.status).toBe(400);
      expect(response.headers.get('x-amzn-errortype')).toBe('SerializationException');
    });

    it.each([['AWSEvents.PutRule'], ['secretsmanager.RotateSecret'], ['DynamoDB_20120810.GetItem'], ['AWSEvents.constructor'], [undefined]])(
      'answers target %s with UnknownOperationException',
      async (target) => {
        // Act
        const response = await postRaw(emulator, target, '{}');

        // Assess
        expect(response.status).toBe(400);
        expect(response.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
        expect(((await response.json()) as { __type: string }).__type).toBe('UnknownOperationException');
      },
    );

    it('answers an out-of-range Time with SerializationException', async () => {
      // Act
      const response = await postRaw(emulator, 'AWSEvents.PutEvents', JSON.stringify({ Entries: [{ ...entry(), Time: 1e20 }] }));

      // Assess
      expect(response.status).toBe(400);
      expect(response.headers.get('x-amzn-errortype')).toBe('SerializationException');
    });

    it('refuses to start on a corrupt secrets.json instead of overwriting it', async () => {
      // Prepare
      const corruptDir = await mkdtemp(join(tmpdir(), 'aws-emulator-corrupt-'));
      await writeFile(join(corruptDir, 'secrets.json'), '{"secrets": [');

      // Act
      const starting = startAwsEmulator({ dataDir: corruptDir });

      // Assess
      await expect(starting).rejects.toThrow(`Cannot load emulator secrets from ${join(corruptDir, 'secrets.json')}`);
      expect(await readFile(join(corruptDir, 'secrets.json'), 'utf8')).toBe('{"secrets": [');
      await rm(corruptDir, { recursive: true, force: true });
    });

    it('refuses bodies over 1 MiB with 413 and stays healthy', async () => {
      // Act
      const response = await postRaw(emulator, 'AWSEvents.PutEvents', 'x'.repeat(1024 * 1024 + 1));
      const health = await fetch(`${emulator.url}/healthz`);

      // Assess
      expect(response.status).toBe(413);
      expect(response.headers.get('x-amzn-errortype')).toBe('RequestEntityTooLargeException');
      expect(health.status).toBe(200);
    });

    it('serves delivered events and call stats over HTTP, and resets them', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      await client.send(new PutEventsCommand({ Entries: [entry(), entry()] }));

      // Act
      const events = (await (await fetch(`${emulator.url}/_emulator/events`)).json()) as EmittedEvent[];
      const stats = await (await fetch(`${emulator.url}/_emulator/stats`)).json();
      await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });
      await fetch(`${emulator.url}/_emulator/events`, { method: 'DELETE' });

      // Assess
      expect(events).toHaveLength(2);
      expect(events[0]?.time).toMatch(EVENT_TIME);
      expect(stats).toEqual({ PutEvents: 1 });
      expect(emulator.stats()).toEqual({});
      expect(emulator.events()).toEqual([]);
    });
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  DeleteEventBusCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  InternalException,
  InvalidEventPatternException,
  ListEventBusesCommand,
  PutEventsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException as EventBusNotFoundException,
  TestEventPatternCommand,
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
import { InvalidEventPatternError, matchesEventPattern, parseEventPattern } from '../../local/aws-emulator/event-pattern';

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

  describe('EventBridge TestEventPattern', () => {
    /** The example event of https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html */
    const ec2Event = {
      version: '0',
      id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      account: '111122223333',
      time: '2017-12-22T18:43:48Z',
      region: 'us-west-1',
      resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
      detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
    };
    const terminated = JSON.stringify({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    });

    it('answers Result true for a matching event and false for another, through the unmodified SDK', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const running = { ...ec2Event, detail: { ...ec2Event.detail, state: 'running' } };

      // Act
      const match = await client.send(new TestEventPatternCommand({ EventPattern: terminated, Event: JSON.stringify(ec2Event) }));
      const noMatch = await client.send(new TestEventPatternCommand({ EventPattern: terminated, Event: JSON.stringify(running) }));

      // Assess
      expect(match.Result).toBe(true);
      expect(noMatch.Result).toBe(false);
      expect(emulator.stats()).toEqual({ TestEventPattern: 2 });
    });

    it('matches the events it emits, so a rule can be checked against what PutEvents delivered', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      await client.send(new PutEventsCommand({ Entries: [entry({ Detail: JSON.stringify({ items: [{ kind: 'a' }, { kind: 'b' }] }) })] }));
      const [delivered] = emulator.events();
      const pattern = JSON.stringify({ source: ['graph-relay.test'], detail: { items: { kind: ['b'] } } });

      // Act
      const result = await client.send(new TestEventPatternCommand({ EventPattern: pattern, Event: JSON.stringify(delivered) }));

      // Assess
      expect(delivered).toBeDefined();
      expect(result.Result).toBe(true);
    });

    it("refuses an invalid pattern with InvalidEventPatternException and AWS's reason", async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const leafNotInList = JSON.stringify({ detail: { state: 'terminated' } });

      // Act
      const error = await rejectionOf(client.send(new TestEventPatternCommand({ EventPattern: leafNotInList, Event: JSON.stringify(ec2Event) })));

      // Assess
      expect(error).toBeInstanceOf(InvalidEventPatternException);
      expect(error.message).toBe('Event pattern is not valid. Reason: "state" must be an object or an array');
      expect(error.$metadata?.httpStatusCode).toBe(400);
    });

    // API reference (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html) lists
    // id, account, source, time, region, resources and detail-type as mandatory; AWS answers a bad Event with
    // ValidationException "Parameter Event is not valid." (recorded against AWS in LocalStack's snapshots).
    it.each([
      ['not JSON', '{"id": '],
      ['a JSON array', JSON.stringify([ec2Event])],
      ['a JSON string', JSON.stringify(JSON.stringify(ec2Event))],
      ...(['id', 'account', 'source', 'time', 'region', 'detail-type'] as const).map((field) => {
        const { [field]: _omitted, ...rest } = ec2Event;
        return [`missing ${field}`, JSON.stringify(rest)];
      }),
    ])('refuses an Event that is %s with ValidationException', async (_case, event) => {
      // Prepare
      const client = eventBridgeClient(emulator);

      // Act
      const error = await rejectionOf(client.send(new TestEventPatternCommand({ EventPattern: terminated, Event: event })));

      // Assess
      expect(error.name).toBe('ValidationException');
      expect(error.message).toBe('Parameter Event is not valid.');
      expect(error.$metadata?.httpStatusCode).toBe(400);
    });

    it('accepts an Event without resources, version or detail, as AWS does despite the API reference', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const { resources: _resources, version: _version, detail: _detail, ...minimal } = ec2Event;
      const pattern = JSON.stringify({ source: ['aws.ec2'], resources: [{ exists: false }] });

      // Act
      const result = await client.send(new TestEventPatternCommand({ EventPattern: pattern, Event: JSON.stringify(minimal) }));

      // Assess
      expect(result.Result).toBe(true);
    });

    it('refuses a missing EventPattern, or one over 4096 characters, with ValidationException', async () => {
      // Prepare
      const client = eventBridgeClient(emulator);
      const longest = JSON.stringify({ source: ['x'.repeat(4096 - '{"source":[""]}'.length)] });
      const tooLong = JSON.stringify({ source: ['x'.repeat(4097 - '{"source":[""]}'.length)] });

      // Act
      const missing = await rejectionOf(client.send(new TestEventPatternCommand({ Event: JSON.stringify(ec2Event) } as never)));
      const atLimit = await client.send(new TestEventPatternCommand({ EventPattern: longest, Event: JSON.stringify(ec2Event) }));
      const overLimit = await rejectionOf(client.send(new TestEventPatternCommand({ EventPattern: tooLong, Event: JSON.stringify(ec2Event) })));

      // Assess
      expect(longest).toHaveLength(4096);
      expect(missing.name).toBe('ValidationException');
      expect(missing.message).toContain("at 'eventPattern' failed to satisfy constraint: Member must not be null");
      expect(atLimit.Result).toBe(false);
      expect(overLimit.name).toBe('ValidationException');
      expect(overLimit.message).toContain('Member must have length less than or equal to 4096');
    });

    it('can be failed by an injected fault like any other operation', async () => {
      // Prepare
      const client = eventBridgeClient(emulator, 1);
      emulator.faults.inject({ operation: 'TestEventPattern', mode: 'error', errorCode: 'InternalException', times: 1 });

      // Act
      const failed = await rejectionOf(client.send(new TestEventPatternCommand({ EventPattern: terminated, Event: JSON.stringify(ec2Event) })));
      const next = await client.send(new TestEventPatternCommand({ EventPattern: terminated, Event: JSON.stringify(ec2Event) }));

      // Assess
      expect(failed).toBeInstanceOf(InternalException);
      expect(next.Result).toBe(true);
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

    it('counts the calls the SDK marks as retries, with their entries, at GET /_emulator/client-retries', async () => {
      // Prepare: the first attempt fails, the SDK's second carries `amz-sdk-request: attempt=2`.
      const client = eventBridgeClient(emulator);
      emulator.faults.inject({ operation: 'PutEvents', mode: 'error', errorCode: 'ServiceUnavailable', times: 1 });
      await client.send(new PutEventsCommand({ Entries: [entry(), entry(), entry()] }));
      await client.send(new PutEventsCommand({ Entries: [entry()] }));

      // Act
      const retries = (await (await fetch(`${emulator.url}/_emulator/client-retries`)).json()) as unknown;

      // Assess
      expect(retries).toEqual({ PutEvents: { calls: 1, entries: 3 } });
      expect(emulator.stats()).toEqual({ PutEvents: 3 });
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

describe('EventBridge event pattern matcher', () => {
  /** An event envelope as a rule target receives it, with `fields` replacing or adding top-level fields. */
  function awsEvent(fields: Record<string, unknown>): Record<string, unknown> {
    return {
      version: '0',
      id: '3e3c153a-8339-4e30-8c35-687ebef853fe',
      'detail-type': 'Test',
      source: 'test-source',
      account: '123456789012',
      time: '2017-10-02T16:24:49Z',
      region: 'us-east-1',
      resources: [],
      ...fields,
    };
  }

  type Case = [description: string, pattern: unknown, event: Record<string, unknown>, expected: boolean];

  function runCase(pattern: unknown, event: Record<string, unknown>): boolean {
    return matchesEventPattern(parseEventPattern(JSON.stringify(pattern)), event);
  }

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
  // (example events and patterns; fields not in the pattern are ignored; nested fields must nest the same way)
  const ec2 = awsEvent({
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
    detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
  });
  const macie = awsEvent({
    'detail-type': 'Macie Alert',
    source: 'aws.macie',
    detail: { 'notification-type': 'ALERT_CREATED', tags: ['Custom_Alert', 'Insider'], 'risk-score': 80, trigger: { 'alert-type': 'basic', risk: 8 } },
  });
  const structure: Case[] = [
    ['the EC2 termination pattern matches the EC2 example event', { source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], detail: { state: ['terminated'] } }, ec2, true],
    ['a value list is OR: either source matches', { source: ['aws.ec2', 'aws.fargate'] }, ec2, true],
    ['fields are AND: one mismatching field fails the pattern', { source: ['aws.ec2'], detail: { state: ['running'] } }, ec2, false],
    ['strings match exactly, without case folding', { detail: { state: ['Terminated'] } }, ec2, false],
    ['a field missing from the event never matches a value', { detail: { reason: ['terminated'] } }, ec2, false],
    ['nested numbers match (Macie: risk-score 80 and trigger.risk 8)', { source: ['aws.macie'], detail: { 'risk-score': [80], trigger: { risk: [8] } } }, macie, true],
    ['the number 80 does not match the string "80"', { detail: { 'risk-score': ['80'] } }, macie, false],
    ['the nesting must be the same: trigger.risk is not detail.risk', { detail: { risk: [8] } }, macie, false],
    ['a value does not match an object at that path', { detail: { trigger: ['basic'] } }, macie, false],
    // Event Ruler adds a numeric-equals matcher for numbers, and AWS matches 300 with 300.0 (the guide says it does not).
    ['numbers compare as numbers: 300 matches 300.0', { detail: { n: [300] } }, awsEvent({ detail: { n: 300.0 } }), true],
    ['true matches the boolean, not the string "true"', { detail: { on: [true] } }, awsEvent({ detail: { on: 'true' } }), false],
    ['dotted keys address the same field as nested objects (Event Ruler README)', { 'detail.state': ['terminated'] }, ec2, true],
    ['a detail that is a JSON string is not parsed', { detail: { state: ['terminated'] } }, awsEvent({ detail: JSON.stringify({ state: 'terminated' }) }), false],
  ];

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
  const autoscaling = awsEvent({ source: 'aws.autoscaling', detail: { eventVersion: '', responseElements: null } });
  const nulls: Case[] = [
    ['[""] matches an empty string', { detail: { eventVersion: [''] } }, autoscaling, true],
    ['[null] matches null', { detail: { responseElements: [null] } }, autoscaling, true],
    ['[""] does not match null', { detail: { responseElements: [''] } }, autoscaling, false],
    ['[null] does not match an empty string', { detail: { eventVersion: [null] } }, autoscaling, false],
  ];

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html and the Event Ruler
  // README, "JSON Array Matching" (arrays are crushed out of paths; fields must match within one array element).
  const arrayPattern = {
    resources: [
      'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
    ],
  };
  const asg = 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate';
  const employees = awsEvent({
    detail: {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    },
  });
  const arrays: Case[] = [
    ['the pattern matches when its list and the event array intersect', arrayPattern, awsEvent({ resources: [asg, 'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f'] }), true],
    ['the pattern does not match when they do not intersect', arrayPattern, awsEvent({ resources: [asg] }), false],
    ['an empty event array has no value, not even null', { resources: [null] }, awsEvent({ resources: [] }), false],
    ['an object pattern applies to the objects inside an event array', { detail: { employees: { firstName: ['Anna'] } } }, employees, true],
    ['fields must match inside the same array element: Anna Smith', { detail: { employees: { firstName: ['Anna'], lastName: ['Smith'] } } }, employees, true],
    ['fields from different array elements do not combine: Anna Jones', { detail: { employees: { firstName: ['Anna'], lastName: ['Jones'] } } }, employees, false],
    ['arrays of arrays are crushed too', { detail: { employees: { firstName: ['Peter'] } } }, awsEvent({ detail: { employees: [[{ firstName: 'John' }], [{ firstName: 'Peter' }]] } }), true],
    ['a field outside the array still combines with one inside it', { source: ['test-source'], detail: { employees: { lastName: ['Jones'] } } }, employees, true],
  ];

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html and
  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
  const rulerExample = awsEvent({
    time: '2017-10-02T16:24:49Z',
    detail: { 'c-count': 5, 'd-count': 3, 'x-limit': 301.8, 'source-ip': '10.0.0.33', 'instance-id': 'i-000000aaaaaa00000', state: 'running' },
  });
  const state = (value: unknown): Record<string, unknown> => awsEvent({ detail: { state: value } });
  const operators: Case[] = [
    ['prefix matches the start of a string', { time: [{ prefix: '2017-10-02' }] }, rulerExample, true],
    ['prefix does not match another start', { time: [{ prefix: '2017-10-03' }] }, rulerExample, false],
    ['prefix only works on strings', { detail: { 'c-count': [{ prefix: '5' }] } }, rulerExample, false],
    ['prefix with equals-ignore-case ignores case', { source: [{ prefix: { 'equals-ignore-case': 'EventB' } }] }, awsEvent({ source: 'eventbridge.test' }), true],
    ['suffix matches the end of a string', { detail: { FileName: [{ suffix: '.png' }] } }, awsEvent({ detail: { FileName: 'image.png' } }), true],
    ['suffix is case-sensitive', { detail: { FileName: [{ suffix: '.png' }] } }, awsEvent({ detail: { FileName: 'image.PNG' } }), false],
    ['suffix with equals-ignore-case ignores case', { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, awsEvent({ detail: { FileName: 'image.PNG' } }), true],
    ['equals-ignore-case matches any casing', { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } }, awsEvent({ detail: { Name: 'ALICE' } }), true],
    ['equals-ignore-case still needs the whole value', { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } }, awsEvent({ detail: { Name: 'alice2' } }), false],
    ['anything-but a string matches another string', { detail: { state: [{ 'anything-but': 'initializing' }] } }, rulerExample, true],
    ['anything-but a string does not match that string', { detail: { state: [{ 'anything-but': 'running' }] } }, rulerExample, false],
    ['anything-but a number does not match that number', { detail: { 'c-count': [{ 'anything-but': 5 }] } }, rulerExample, false],
    ['anything-but a list of strings excludes each', { detail: { state: [{ 'anything-but': ['stopped', 'running'] }] } }, rulerExample, false],
    ['anything-but a list of numbers matches a number outside it', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, rulerExample, true],
    ['anything-but prefix excludes strings with that prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, state('initializing'), false],
    ['anything-but prefix matches a number (AWS-recorded)', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, state(12), true],
    ['anything-but suffix excludes strings with that suffix', { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } }, awsEvent({ detail: { FileName: 'a.png' } }), false],
    ['anything-but equals-ignore-case excludes every casing', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } }, state('INITIALIZING'), false],
    ['anything-but matches null (AWS-recorded)', { detail: { state: [{ 'anything-but': 'initializing' }] } }, state(null), true],
    ['anything-but does not match a missing field (AWS-recorded)', { detail: { state: [{ 'anything-but': 'initializing' }] } }, awsEvent({ detail: {} }), false],
    ['numeric matches when every condition holds', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }], 'd-count': [{ numeric: ['<', 10] }], 'x-limit': [{ numeric: ['=', 3.018e2] }] } }, rulerExample, true],
    ['numeric range bounds are exclusive when asked', { detail: { 'c-count': [{ numeric: ['>', 0, '<', 5] }] } }, rulerExample, false],
    ['numeric >= includes its bound', { detail: { 'd-count': [{ numeric: ['>=', 3] }] } }, rulerExample, true],
    ['numeric only matches JSON numbers, not numeric strings', { detail: { n: [{ numeric: ['>', 0] }] } }, awsEvent({ detail: { n: '5' } }), false],
    ['exists true matches a present leaf', { detail: { 'c-count': [{ exists: true }] } }, rulerExample, true],
    ['exists false matches a missing field', { detail: { 'e-count': [{ exists: false }] } }, rulerExample, true],
    ['exists false does not match a present leaf', { detail: { 'c-count': [{ exists: false }] } }, rulerExample, false],
    ['exists false matches when the field is an object: it is not a leaf', { detail: { 'c-count': [{ exists: false }] } }, awsEvent({ detail: { 'c-count': { c1: 100 } } }), true],
    ['exists true does not match an object', { detail: { 'c-count': [{ exists: true }] } }, awsEvent({ detail: { 'c-count': { c1: 100 } } }), false],
    ['exists true matches null: null is a value', { detail: { responseElements: [{ exists: true }] } }, autoscaling, true],
    ['exists true does not match an empty array (AWS-recorded)', { resources: [{ exists: true }] }, awsEvent({ resources: [] }), false],
    ['exists true matches when one object of a list has the field (AWS-recorded)', { detail: { automations: { id: [{ exists: true }] } } }, awsEvent({ detail: { automations: [{ key1: 'v' }, { id: 'x' }] } }), true],
    ['cidr matches an address inside the block', { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, rulerExample, true],
    ['cidr does not match an address outside it', { detail: { 'source-ip': [{ cidr: '10.0.1.0/24' }] } }, rulerExample, false],
    ['cidr works with IPv6', { detail: { ip: [{ cidr: '2001:db8::/32' }] } }, awsEvent({ detail: { ip: '2001:db8:1234::1' } }), true],
    ['wildcard matches any run of characters', { detail: { FilePath: [{ wildcard: 'dir/*.png' }] } }, awsEvent({ detail: { FilePath: 'dir/a/b.png' } }), true],
    ['wildcard \\* is a literal star', { detail: { FilePath: [{ wildcard: 'a\\*' }] } }, awsEvent({ detail: { FilePath: 'ab' } }), false],
    ['anything-but wildcard excludes what the wildcard matches', { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, awsEvent({ detail: { FilePath: 'a/lib/b' } }), false],
    ['the values of one field are OR across operators', { detail: { state: ['stopped', { prefix: 'run' }] } }, rulerExample, true],
    ['the complex example combines operators', { time: [{ prefix: '2017-10-02' }], detail: { state: [{ 'anything-but': 'initializing' }], 'c-count': [{ numeric: ['>', 0, '<=', 5] }], 'd-count': [{ numeric: ['<', 10] }], 'x-limit': [{ 'anything-but': [100, 200, 300] }], 'source-ip': [{ cidr: '10.0.0.0/8' }] } }, rulerExample, true],
  ];

  // $or: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html (Or) and the
  // Event Ruler README, "The $or Primitive".
  const cloudwatch = awsEvent({ source: 'aws.cloudwatch', metricName: 'NetworkIn', namespace: 'AWS/EC2' });
  const ors: Case[] = [
    ['$or matches when one alternative matches', { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }] }, cloudwatch, true],
    ['$or fails when no alternative matches', { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/ES'] }] }, cloudwatch, false],
    ['$or keeps the fields outside it as AND', { source: ['aws.ec2'], $or: [{ metricName: ['NetworkIn'] }, { namespace: ['AWS/EC2'] }] }, cloudwatch, false],
    ['$or inside detail applies to detail fields (AWS-recorded)', { detail: { $or: [{ 'c-count': [{ numeric: ['>', 0, '<=', 5] }] }, { 'd-count': [{ numeric: ['<', 10] }] }] } }, awsEvent({ detail: { 'c-count': 0, 'd-count': 0 } }), true],
    ['an $or alternative may hold several fields that must all match', { $or: [{ metricName: ['CPUUtilization'] }, { metricName: ['NetworkIn'], namespace: ['AWS/ES'] }] }, cloudwatch, false],
  ];

  it.each([...structure, ...nulls, ...arrays, ...operators, ...ors])('%s', (_description, pattern, event, expected) => {
    // Prepare
    const parsed = parseEventPattern(JSON.stringify(pattern));

    // Act
    const result = matchesEventPattern(parsed, event);

    // Assess
    expect(result).toBe(expected);
  });

  it('reads arrays in the event the way the product routes on them: detail.payload.value.changeType', () => {
    // Prepare
    const event = awsEvent({ detail: { payload: { value: [{ changeType: 'updated', resource: 'Users/1' }] } } });

    // Act
    const updated = runCase({ detail: { payload: { value: { changeType: ['created', 'updated'] } } } }, event);
    const deleted = runCase({ detail: { payload: { value: { changeType: ['deleted'] } } } }, event);

    // Assess
    expect(updated).toBe(true);
    expect(deleted).toBe(false);
  });

  // Invalid patterns. The reasons marked AWS were recorded from AWS in LocalStack's snapshot tests
  // (tests/aws/services/events/test_events_patterns.snapshot.json); the others are Event Ruler's JsonRuleCompiler wording.
  it.each([
    ['[1]', 'Filter is not an object'], // AWS
    ['"text"', 'Filter is not an object'],
    ['{"int": 42}', '"int" must be an object or an array'], // AWS
    ['{"string": "my-value"}', '"string" must be an object or an array'], // AWS
    ['{"resources": []}', 'Empty arrays are not allowed'], // AWS
    ['{"source": ["aws.health"], "detail": {}}', 'Empty objects are not allowed'], // AWS (cloud-custodian#6507)
    ['{"a": [["nested"]]}', 'Match value must be String, number, true, false, or null'],
    ['{"a": [{}]}', 'Match expression name not found'],
    ['{"my_key": [{"EXISTS": true}]}', 'Unrecognized match type EXISTS'], // AWS
    ['{"detail": {"equal": [{"NUMERIC": ["=", 5]}]}}', 'Unrecognized match type NUMERIC'], // AWS
    ['{"a": [{"prefix": "x", "suffix": "y"}]}', 'Only one key allowed in match expression'],
    ['{"time": [{"prefix": ["2022-07-13"]}]}', 'prefix match pattern must be a string'], // AWS
    ['{"FileName": [{"suffix": 123}]}', 'suffix match pattern must be a string'], // AWS
    ['{"detail-type": [{"equals-ignore-case": ["x"]}]}', 'equals-ignore-case match pattern must be a string'], // AWS
    ['{"a": [{"exists": "yes"}]}', 'exists match pattern must be either true or false.'],
    ['{"a": [{"numeric": 5}]}', 'Value of numeric must be an array.'],
    ['{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}', 'Bad numeric range operator: >'], // AWS
    ['{"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}}', 'Value of < must be numeric'], // AWS
    ['{"a": [{"numeric": ["!=", 1]}]}', 'Unrecognized numeric range operator: !='],
    ['{"a": [{"numeric": ["<", 1, "<", 2]}]}', 'Too many elements in numeric expression'],
    ['{"a": [{"numeric": [">", 5, "<", 1]}]}', 'Bottom must be less than top'],
    ['{"detail": {"state": [{"anything-but": {"prefix": 123}}]}}', 'prefix/suffix match pattern must be a string'], // AWS
    ['{"detail": {"FileName": [{"anything-but": {"prefix": {"equals-ignore-case": "file"}}}]}}', 'Value of anything-but must be an array or single string/number value.'], // AWS
    ['{"detail": {"state": [{"anything-but": {"equals-ignore-case": 123}}]}}', 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.'], // AWS
    ['{"a": [{"anything-but": {"prefix": ""}}]}', 'Null prefix/suffix not allowed'],
    ['{"a": [{"anything-but": {"contains": "x"}}]}', 'Unsupported anything-but pattern: contains'],
    ['{"a": [{"anything-but": null}]}', 'Value of anything-but must be an array or single string/number value.'],
    ['{"a": [{"anything-but": [1, "a"]}]}', 'Inside anything but list, either all values are number or string, mixed type is not supported'],
    ['{"a": [{"anything-but": [true]}]}', 'Inside anything but list, start|null|boolean is not supported.'],
    ['{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}', 'Consecutive wildcard characters at pos 26'], // AWS
    ['{"EventBusArn": [{"wildcard": 123}]}', 'wildcard match pattern must be a string'], // AWS
    ['{"ip": [{"cidr": ["bad-type"]}]}', 'prefix match pattern must be a string'], // AWS
    ['{"ip": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"], // AWS
    ['{"ip": [{"cidr": "10.0.0.0/xx"}]}', 'Malformed CIDR, mask bits must be an integer'], // AWS
    ['{"ip": [{"cidr": "xx.11.xx/24"}]}', 'Nonstandard IP address: xx.11.xx'], // AWS
    ['{"$or": {"a": ["x"]}}', 'It must be an Array followed with $or.'],
    ['{"$or": [{"a": ["x"]}]}', 'There must have at least 2 Objects in $or relationship.'],
    ['{"$or": [{"a": ["x"]}, "b"]}', 'Only JSON object is allowed in array of $or relationship.'],
    ['{"$or": [{"a": ["x"]}, {"prefix": ["y"]}]}', 'prefix is Ruler reserved fieldName which cannot be used inside $or.'],
  ])('refuses the pattern %s: %s', (source, reason) => {
    // Act
    const parsing = (): unknown => parseEventPattern(source);

    // Assess
    expect(parsing).toThrow(InvalidEventPatternError);
    expect(parsing).toThrow(new InvalidEventPatternError(reason));
  });

  it('refuses a pattern whose nested $or expand into more than 10000 alternatives, rather than stall', () => {
    // Prepare: 2^14 = 16384 alternatives, in well under 4096 characters.
    const either = { $or: [{ a: ['x'] }, { b: ['x'] }] };
    const source = JSON.stringify(Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`f${i}`, either])));
    const thirteen = JSON.stringify(Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`f${i}`, either])));

    // Act
    const parsing = (): unknown => parseEventPattern(source);
    const parsed = parseEventPattern(thirteen);

    // Assess
    expect(source.length).toBeLessThan(4096);
    expect(parsing).toThrow(/^Rule is too complex/);
    expect(parsed.branches).toHaveLength(8192);
  });

  it('refuses a pattern that is not JSON', () => {
    // Act
    const parsing = (): unknown => parseEventPattern("{'bad': 'quotation'}");

    // Assess
    expect(parsing).toThrow(InvalidEventPatternError);
  });
});

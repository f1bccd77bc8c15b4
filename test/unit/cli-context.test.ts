/**
 * Target resolution: names given as flags, the local descriptor, events in AWS mode, and the stack AWS mode reads,
 * asked of an in-process stand-in for CloudFormation's DescribeStacks (AWS_ENDPOINT_URL_CLOUDFORMATION).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdkPorts as ports } from '../../cli/context';
import { writeLocalStackDescriptor } from '../../local/descriptor';
import { sampleLocalStackDescriptor } from '../support/local-descriptor';

let dir: string;
const savedDataDir = process.env['GRAPH_RELAY_DATA_DIR'];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'graph-relay-cli-context-'));
  process.env['GRAPH_RELAY_DATA_DIR'] = dir;
});

afterEach(async () => {
  if (savedDataDir === undefined) delete process.env['GRAPH_RELAY_DATA_DIR'];
  else process.env['GRAPH_RELAY_DATA_DIR'] = savedDataDir;
  await rm(dir, { recursive: true, force: true });
});

const descriptor = () => sampleLocalStackDescriptor({ startedAt: '2024-05-01T12:00:00.000Z' });

describe('openContext', () => {
  it('uses the names given as flags without reading the stack', async () => {
    // Act
    const context = await ports.openContext({ stage: 'dev', region: 'eu-central-1', connectionsTable: 'table', webhookSecretPrefix: 'prefix/' });
    context.close();

    // Assess
    expect(context.target).toEqual({ region: 'eu-central-1', connectionsTable: 'table', webhookSecretPrefix: 'prefix/' });
  });

  it('refuses a stage that cannot name a stack', async () => {
    // Act
    const act = ports.openContext({ stage: 'my_stage', region: 'eu-central-1' });

    // Assess
    await expect(act).rejects.toThrow('invalid --stage "my_stage": stage must be letters, digits and "-", starting with a letter');
  });

  it('reads the local stack descriptor, flags overriding its names', async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, descriptor());

    // Act
    const context = await ports.openContext({ local: true, stage: 'dev', connectionsTable: 'other-table' });
    context.close();

    // Assess
    expect(context.target).toEqual({
      region: 'eu-west-1',
      connectionsTable: 'other-table',
      webhookSecretPrefix: 'graph-relay/local/integrations/',
      deliveriesTable: descriptor().deliveriesTable,
      webhookBaseUrl: 'http://127.0.0.1:3000/webhook/',
      eventBusName: descriptor().eventBusName,
      eventSource: descriptor().eventSource,
    });
  });

  it('reports the local stack as one region when its writer lease is on, the lease in its connections table', async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, sampleLocalStackDescriptor({ writerLease: 'on', leaseHeartbeatSeconds: 30 }));

    // Act
    const context = await ports.openContext({ local: true, stage: 'dev' });
    context.close();

    // Assess
    expect(context.target.writerLeaseTable).toBe('local-connections');
    expect(context.regions).toBeDefined();
  });

  it("reads the lease in the descriptor's own lease table when it names one", async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, sampleLocalStackDescriptor({ writerLease: 'on', leaseHeartbeatSeconds: 30, writerLeaseTable: 'local-lease' }));

    // Act
    const context = await ports.openContext({ local: true, stage: 'dev' });
    context.close();

    // Assess
    expect(context.target.writerLeaseTable).toBe('local-lease');
    expect(context.regions).toBeDefined();
  });

  it('reports no regions for a local stack with the lease off', async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, sampleLocalStackDescriptor({ writerLease: 'off' }));

    // Act
    const context = await ports.openContext({ local: true, stage: 'dev' });
    context.close();

    // Assess
    expect(context.target.writerLeaseTable).toBeUndefined();
    expect(context.regions).toBeUndefined();
  });

  it('explains how to start the local stack when it is not running', async () => {
    // Act
    const act = ports.openContext({ local: true, stage: 'dev' });

    // Assess
    await expect(act).rejects.toThrow(`the local stack is not running (no ${join(dir, 'local-stack.json')}); start it with: npm start`);
  });
});

describe('eventsFile', () => {
  it("is the local stack's events file, relative to the data directory", async () => {
    // Prepare
    await writeLocalStackDescriptor(dir, descriptor());

    // Act
    const file = await ports.eventsFile({ local: true, stage: 'dev' });

    // Assess
    expect(file).toBe(join(dir, 'events.ndjson'));
  });

  it('explains that a bus cannot be read in AWS mode', async () => {
    // Act
    const act = ports.eventsFile({ stage: 'prod' });

    // Assess
    await expect(act).rejects.toThrow(
      'events tail reads the local stack only: EventBridge has no API to read events from a bus. In AWS, add a rule on the bus of ' +
        'GraphRelay-prod (stack output EventBusName) with a CloudWatch Logs target and run: aws logs tail <log group> --follow',
    );
  });
});

describe('openContext in AWS mode', () => {
  const REGION = 'eu-central-1';
  const asked: string[] = [];
  let cloudFormation: Server;
  const saved: Record<string, string | undefined> = {};
  const single = { ConnectionsTableName: 'single-table', WebhookSecretPrefix: 'single/', WebhookBaseUrl: 'https://relay.example.com/webhook/' };
  const regional = {
    ConnectionsTableName: 'global-table',
    WebhookSecretPrefix: 'global/',
    WebhookBaseUrl: 'https://graph.example.com/webhook/',
    RegionalWebhookBaseUrl: 'https://abc123.execute-api.eu-central-1.amazonaws.com/webhook/',
    HealthCheckId: 'hc-central',
    SecretReplicaRegions: 'eu-west-1',
    PrimaryRegion: 'eu-west-1',
    SecondaryRegion: 'eu-central-1',
    WriterLeaseTableName: 'global-lease',
  };

  beforeAll(async () => {
    cloudFormation = await describeStacksStandIn({ 'GraphRelay-one': single, 'GraphRelay-global-eu-central-1': regional }, asked);
    const address = cloudFormation.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const env = {
      AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${port}`,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    for (const [name, value] of Object.entries(env)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await new Promise((done) => cloudFormation?.close(done));
  });

  beforeEach(() => asked.splice(0));

  it('reads GraphRelay-<stage> as before, with no regions, and asks for no other stack', async () => {
    // Act
    const context = await ports.openContext({ stage: 'one', region: REGION });
    context.close();

    // Assess
    expect(asked).toEqual(['GraphRelay-one']);
    expect(context.target).toEqual({
      region: REGION,
      connectionsTable: 'single-table',
      webhookSecretPrefix: 'single/',
      webhookBaseUrl: 'https://relay.example.com/webhook/',
      stackName: 'GraphRelay-one',
    });
    expect(context.regions).toBeUndefined();
  });

  it("falls back to the multi-region stage's stack in the CLI's region, and reads what its outputs say", async () => {
    // Act
    const context = await ports.openContext({ stage: 'global', region: REGION });
    context.close();

    // Assess
    expect(asked).toEqual(['GraphRelay-global', 'GraphRelay-global-eu-central-1']);
    expect(context.target).toEqual({
      region: REGION,
      connectionsTable: 'global-table',
      webhookSecretPrefix: 'global/',
      webhookBaseUrl: 'https://graph.example.com/webhook/',
      stackName: 'GraphRelay-global-eu-central-1',
      secretReplicaRegions: ['eu-west-1'],
      primaryRegion: 'eu-west-1',
      secondaryRegion: 'eu-central-1',
      writerLeaseTable: 'global-lease',
      regionalWebhookBaseUrl: 'https://abc123.execute-api.eu-central-1.amazonaws.com/webhook/',
      healthCheckId: 'hc-central',
    });
    expect(context.regions).toBeDefined();
  });

  it('names both stacks it looked for when neither exists', async () => {
    // Act
    const act = ports.openContext({ stage: 'absent', region: REGION });

    // Assess
    await expect(act).rejects.toThrow(
      `stack GraphRelay-absent not found in ${REGION}, nor GraphRelay-absent-${REGION} (a multi-region stage's stack in that region): ` +
        'deploy with npx cdk deploy -c stage=absent, or pass --connections-table and --webhook-secret-prefix',
    );
    expect(asked).toEqual(['GraphRelay-absent', `GraphRelay-absent-${REGION}`]);
  });

  it('does not fall back on an error other than a missing stack', async () => {
    // Act
    const act = ports.openContext({ stage: 'denied', region: REGION });

    // Assess
    await expect(act).rejects.toThrow('not authorized to perform: cloudformation:DescribeStacks');
    expect(asked).toEqual(['GraphRelay-denied']);
  });
});

/** CloudFormation's query-protocol answers to DescribeStacks for `stacks`; stage `denied` is refused access. Records each name asked. */
async function describeStacksStandIn(stacks: Record<string, Record<string, string>>, asked: string[]): Promise<Server> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const name = new URLSearchParams(body).get('StackName') ?? '';
      asked.push(name);
      const outputs = stacks[name];
      response.setHeader('content-type', 'text/xml');
      if (outputs === undefined) {
        const [code, message] = name === 'GraphRelay-denied'
          ? ['AccessDenied', 'User is not authorized to perform: cloudformation:DescribeStacks']
          : ['ValidationError', `Stack with id ${name} does not exist`];
        response.statusCode = 400;
        response.end(
          `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>` +
            `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        );
        return;
      }
      const members = Object.entries(outputs)
        .map(([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`)
        .join('');
      response.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks>` +
          `<member><StackName>${name}</StackName><StackStatus>CREATE_COMPLETE</StackStatus>` +
          `<CreationTime>2024-05-01T12:00:00Z</CreationTime><Outputs>${members}</Outputs></member>` +
          `</Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
          `</DescribeStacksResponse>`,
      );
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return server;
}

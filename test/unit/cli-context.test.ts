/** Target resolution that needs no AWS call: names given as flags, the local descriptor, and events in AWS mode. */
import { mkdtemp, rm } from 'node:fs/promises';
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

/**
 * `graph-relay events replay` as the real process. Locally: the local stack keeps no archive, so it says so in one
 * line and exits 1, without needing the stack to run; a bad command line still exits 2 first. In AWS mode: against a
 * stand-in for CloudFormation (stack outputs) and EventBridge's replay operations, which records what it was asked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli-process';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-replay-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function cliWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return runCli(args, { GRAPH_RELAY_DATA_DIR: dataDir, ...env });
}

const cli = (...args: string[]) => cliWith({}, ...args);

describe('graph-relay --local events replay', () => {
  it('answers that replay needs AWS, exit code 1', async () => {
    // Act
    const result = await cli('--local', 'events', 'replay', '--from', '2024-05-01T08:00:00Z', '--to', '2024-05-01T09:00:00Z');

    // Assess
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'graph-relay: replay needs AWS: the local stack has no archive\n' });
  });

  it('refuses a range that ends before it starts, exit code 2', async () => {
    // Act
    const result = await cli('--local', 'events', 'replay', '--from', '2024-05-01T09:00:00Z', '--to', '2024-05-01T08:00:00Z');

    // Assess
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'graph-relay: --from (2024-05-01T09:00:00.000Z) must be before --to (2024-05-01T08:00:00.000Z)\n' });
  });
});

describe('graph-relay events replay in AWS mode', () => {
  const ACCOUNT = '123456789012';
  const BUS_ARN = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/graph-relay-it`;
  const ARCHIVE_ARN = `arn:aws:events:us-east-1:${ACCOUNT}:archive/NotificationArchive`;
  const calls: { target: string; body: Record<string, unknown> }[] = [];
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const stacks: Record<string, Record<string, string>> = {
      'GraphRelay-it': { ConnectionsTableName: 'unused', WebhookSecretPrefix: 'unused/', EventBusName: 'graph-relay-it', ArchiveName: 'NotificationArchive' },
      'GraphRelay-old': { ConnectionsTableName: 'unused', WebhookSecretPrefix: 'unused/', EventBusName: 'graph-relay-it' },
    };
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        if (target.startsWith('AWSEvents.')) {
          const body = JSON.parse(text) as Record<string, unknown>;
          calls.push({ target, body });
          response.setHeader('content-type', 'application/x-amz-json-1.1');
          const answers: Record<string, unknown> = {
            'AWSEvents.DescribeArchive': { ArchiveName: body['ArchiveName'], ArchiveArn: ARCHIVE_ARN, EventSourceArn: BUS_ARN, State: 'ENABLED' },
            'AWSEvents.DescribeRule': { Name: body['Name'], Arn: `arn:aws:events:us-east-1:${ACCOUNT}:rule/graph-relay-it/${String(body['Name'])}` },
            'AWSEvents.StartReplay': { ReplayArn: `arn:aws:events:us-east-1:${ACCOUNT}:replay/${String(body['ReplayName'])}`, State: 'STARTING', StartTime: 1764000000 },
            'AWSEvents.DescribeReplay': { ReplayName: body['ReplayName'], State: 'COMPLETED', EventLastReplayedTime: 1714561200 },
          };
          response.end(JSON.stringify(answers[target] ?? {}));
          return;
        }
        const name = new URLSearchParams(text).get('StackName') ?? '';
        const members = Object.entries(stacks[name] ?? {})
          .map(([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`)
          .join('');
        response.setHeader('content-type', 'text/xml');
        response.end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks>` +
            `<member><StackName>${name}</StackName><StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2024-05-01T12:00:00Z</CreationTime>` +
            `<Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`,
        );
      });
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    close = () => new Promise<void>((done) => server.close(() => done()));
  });

  afterAll(async () => {
    await close?.();
  });

  const aws = (...args: string[]) =>
    cliWith(
      { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_CLOUDFORMATION: url, AWS_ENDPOINT_URL_EVENTBRIDGE: url },
      ...args,
    );

  it('starts a replay of the archive onto its bus for one rule, waits until COMPLETED, and prints it as JSON', async () => {
    // Act
    const result = await aws('--stage', 'it', 'events', 'replay', '--from', '2024-05-01T10:00:00Z', '--to', '2024-05-01T11:00:00Z', '--rule', 'orders', '--wait', '--json');

    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { replayName: string; replayArn: string; state: string };
    expect(printed).toEqual({
      replayName: expect.stringMatching(/^graph-relay-20240501T100000Z-[0-9a-f]{6}$/),
      replayArn: `arn:aws:events:us-east-1:${ACCOUNT}:replay/${printed.replayName}`,
      state: 'COMPLETED',
      from: '2024-05-01T10:00:00.000Z',
      to: '2024-05-01T11:00:00.000Z',
      eventBusArn: BUS_ARN,
      archiveArn: ARCHIVE_ARN,
      rule: 'orders',
    });
    expect(calls.find((call) => call.target === 'AWSEvents.StartReplay')?.body).toEqual({
      ReplayName: printed.replayName,
      Description: 'graph-relay events replay 2024-05-01T10:00:00.000Z to 2024-05-01T11:00:00.000Z',
      EventSourceArn: ARCHIVE_ARN,
      EventStartTime: 1714557600,
      EventEndTime: 1714561200,
      Destination: { Arn: BUS_ARN, FilterArns: [`arn:aws:events:us-east-1:${ACCOUNT}:rule/graph-relay-it/orders`] },
    });
  });

  it('says plainly when the stack has no archive output', async () => {
    // Act
    const result = await aws('--stage', 'old', 'events', 'replay', '--from', '2024-05-01T10:00:00Z', '--to', '2024-05-01T11:00:00Z');

    // Assess
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'graph-relay: stack GraphRelay-old has no output ArchiveName or ArchiveArn (older deployment, or names given as flags): redeploy it\n',
    });
  });
});

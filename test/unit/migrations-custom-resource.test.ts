import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { TableMigrationReport } from '../../shared/store/migrations';
import { answerCustomResource, MIGRATION_PHYSICAL_ID, runTableMigration } from '../../shared/store/migrations/custom-resource';

const REPORT: TableMigrationReport = {
  dryRun: false,
  subscriptionKeys: { scanned: 30, updated: 30 },
  routes: { integrations: 1, connectionsScanned: 10, invalidConnections: 0, routeItemsScanned: 0, added: 10, removed: 0, dryRun: false },
};

function event(requestType: 'Create' | 'Update' | 'Delete', responseUrl: string): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:migrate',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/GraphRelay-dev/1',
    RequestId: 'request-1',
    LogicalResourceId: 'TableMigrationMigration',
    ResourceType: 'Custom::GraphRelayTableMigration',
    ResourceProperties: { ServiceToken: 'x', version: 1 },
  };
  if (requestType === 'Create') return { ...base, RequestType: 'Create' };
  if (requestType === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: MIGRATION_PHYSICAL_ID, OldResourceProperties: { ServiceToken: 'x' } };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: MIGRATION_PHYSICAL_ID };
}

describe('table migration custom resource', () => {
  let server: Server;
  let url: string;
  const received: { method: string; body: string; contentType: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ method: req.method ?? '', body, contentType: req.headers['content-type'] });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/presigned?X-Amz-Signature=abc`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => received.splice(0));

  it('runs the migrations on create and tells CloudFormation what it did', async () => {
    // Prepare
    let runs = 0;
    const ports = { migrate: async () => ((runs += 1), REPORT), log: () => undefined };

    // Act
    const answer = await runTableMigration(event('Create', url), ports);
    await answerCustomResource(event('Create', url), { ...answer, logStreamName: 'stream-1' });

    // Assess
    expect(runs).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]?.method).toBe('PUT');
    expect(JSON.parse(received[0]?.body ?? '{}')).toEqual({
      Status: 'SUCCESS',
      Reason: 'see CloudWatch log stream stream-1',
      PhysicalResourceId: MIGRATION_PHYSICAL_ID,
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/GraphRelay-dev/1',
      RequestId: 'request-1',
      LogicalResourceId: 'TableMigrationMigration',
      Data: { subscriptionsScanned: 30, subscriptionsFiled: 30, connectionsScanned: 10, routesAdded: 10, routesRemoved: 0 },
    });
  });

  it('fails the deployment with the reason when a migration fails, so CloudFormation rolls back', async () => {
    // Prepare
    const ports = { migrate: async () => Promise.reject(new Error('ProvisionedThroughputExceededException')), log: () => undefined };

    // Act
    const answer = await runTableMigration(event('Update', url), ports);
    await answerCustomResource(event('Update', url), { ...answer, logStreamName: 'stream-1' });

    // Assess
    expect(JSON.parse(received[0]?.body ?? '{}')).toEqual(
      expect.objectContaining({ Status: 'FAILED', Reason: 'table migration failed: Error: ProvisionedThroughputExceededException', PhysicalResourceId: MIGRATION_PHYSICAL_ID }),
    );
  });

  it('does nothing on delete: the items stay valid', async () => {
    // Prepare
    let runs = 0;
    const ports = { migrate: async () => ((runs += 1), REPORT), log: () => undefined };

    // Act
    const answer = await runTableMigration(event('Delete', url), ports);

    // Assess
    expect(answer).toEqual({ status: 'SUCCESS' });
    expect(runs).toBe(0);
  });
});

/**
 * A multi-region stage: a stack per region, the connections table global, the webhook under the stage's domain with
 * Route 53 failover between the regions, and the Graph writer lease's heartbeat in each; a single-region stage has
 * none of it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Token, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { HEALTH_CHECK } from '../../infra/constructs/webhook-domain';
import { composeGraphRelayApp, regionalStackName } from '../../infra/graph-relay-app';
import { parseStageConfig, STAGE_NAMES, webhookUrlOutputId, type MultiRegionSettings, type StageConfig, type StageName } from '../../infra/stage-config';
import { ENV } from '../../shared/config/env-names';
import { byJson, cdkJsonContext, resourceIn, resourcesOf, soleResource, stackOnly, withInlineFunctionCode, type CfnResource } from './helpers';

const PRIMARY = 'eu-west-1';
const SECONDARY = 'eu-central-1';
const DOMAIN = 'graph.example.com';
const ZONE_ID = 'Z0123456789ABCDEFGHIJ';
const MULTI: MultiRegionSettings = { primaryRegion: PRIMARY, secondaryRegion: SECONDARY, witnessRegion: 'eu-west-3', webhookDomain: DOMAIN, hostedZoneId: ZONE_ID, hostedZoneName: 'example.com' };
const TABLE_NAME = 'graph-relay-global-connections';

/** prod's settings (or another stage's), an integration, and multiRegion: a stage made for the test, validated like any entry. */
function multiRegionStage(base: StageName = 'prod'): StageConfig {
  const { stage: _name, webhookSecretPrefix: _prefix, ...settings } = parseStageConfig(base);
  return parseStageConfig('global', { global: { ...settings, integrations: { contoso: 'microsoft-oauth2-cc' }, multiRegion: MULTI } });
}

function compose(account?: string, base: StageName = 'prod') {
  const app = new App({ context: { ...cdkJsonContext, stage: 'global' } });
  composeGraphRelayApp(app, multiRegionStage(base), account === undefined ? {} : { account });
  const stackIn = (region: string) => app.node.findChild(regionalStackName('global', region)) as Stack;
  return { app, primary: stackIn(PRIMARY), secondary: stackIn(SECONDARY) };
}

/** The function of a construct (by its logical id prefix) and its role's statements. */
function functionOf(template: Template, prefix: string) {
  const [, fn] = resourceIn(template, 'AWS::Lambda::Function', prefix);
  const roleId = (fn.Properties['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const policies = resourcesOf(template, 'AWS::IAM::Policy').filter(([, policy]) => (policy.Properties['Roles'] as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })));
  const statements = policies.flatMap(([, policy]) => (policy.Properties['PolicyDocument'] as { Statement: Record<string, unknown>[] }).Statement);
  const environment = (fn.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
  return { fn, environment, statements };
}

/** The DynamoDB statements of a function on the connections table (or replica) of its region. */
const tableStatements = (statements: Record<string, unknown>[]) => statements.filter((statement) => JSON.stringify(statement['Action']).includes('dynamodb:'));

/** The writer lease table or its replica in a region, as the templates name it. */
const leaseArnIn = (region: string) =>
  region === PRIMARY
    ? { 'Fn::GetAtt': [expect.stringMatching(/^WriterLeaseTable/), 'Arn'] }
    : { 'Fn::Join': ['', [`arn:aws:dynamodb:${region}:`, { Ref: 'AWS::AccountId' }, ':table/graph-relay-global-writer-lease']] };

/** The connections table of a template (the writer lease table is the other global table). */
const connectionsTableOf = (template: Template): [string, CfnResource] => {
  const found = resourcesOf(template, 'AWS::DynamoDB::GlobalTable').filter(([id]) => id === 'ConnectionsTable');
  expect(found).toHaveLength(1);
  return found[0]!;
};

/** This region's connections table or replica, as the templates name it. */
const tableArnIn = (region: string) =>
  region === PRIMARY ? { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] } : { 'Fn::Join': ['', [`arn:aws:dynamodb:${region}:`, { Ref: 'AWS::AccountId' }, `:table/${TABLE_NAME}`]] };

withInlineFunctionCode();

describe('a multi-region stage', () => {
  let app: App;
  let primary: Stack;
  let secondary: Stack;
  const templates: Record<string, Template> = {};

  beforeAll(() => {
    ({ app, primary, secondary } = compose());
    templates[PRIMARY] = Template.fromStack(primary);
    templates[SECONDARY] = Template.fromStack(secondary);
  });

  it('is a stack per region, GraphRelay-<stage>-<region>, primary first, the secondary deployed after it', () => {
    // Act
    const stacks = app.node.children.filter((child): child is Stack => child instanceof Stack);

    // Assess
    expect(stacks.map((stack) => [stack.stackName, stack.region])).toEqual([
      [`GraphRelay-global-${PRIMARY}`, PRIMARY],
      [`GraphRelay-global-${SECONDARY}`, SECONDARY],
    ]);
    expect(secondary.dependencies).toEqual([primary]);
    expect(primary.dependencies).toEqual([]);
  });

  it('deploys to the account the CDK CLI names, when it names one', () => {
    // Act
    const { primary: inAccount, secondary: secondaryInAccount } = compose('111122223333');

    // Assess
    expect([inAccount.account, secondaryInAccount.account]).toEqual(['111122223333', '111122223333']);
    expect(Token.isUnresolved(primary.account)).toBe(true);
  });

  it('keeps the writer lease in its own strongly consistent global table: created by the primary with the secondary\'s replica and the witness, referenced by name in the secondary', () => {
    // Act
    const leaseTables = (region: string) => resourcesOf(templates[region]!, 'AWS::DynamoDB::GlobalTable').filter(([id]) => id.startsWith('WriterLeaseTable'));
    const [[, table] = []] = leaseTables(PRIMARY);

    // Assess
    expect(table?.Properties).toMatchObject({
      TableName: 'graph-relay-global-writer-lease',
      MultiRegionConsistency: 'STRONG',
      GlobalTableWitnesses: [{ Region: 'eu-west-3' }],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect((table?.Properties['Replicas'] as { Region: string }[]).map((replica) => replica.Region).sort()).toEqual([SECONDARY, PRIMARY].sort());
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(leaseTables(SECONDARY)).toEqual([]);
    for (const region of [PRIMARY, SECONDARY]) {
      expect(templates[region]!.findOutputs('WriterLeaseTableName')['WriterLeaseTableName']?.Value).toEqual(
        region === PRIMARY ? { Ref: expect.stringMatching(/^WriterLeaseTable/) } : 'graph-relay-global-writer-lease',
      );
    }
  });

  it('makes the connections table global in the primary stack: fixed name, a replica in the secondary, streams and TTL, today\'s keys and indexes', () => {
    // Act
    const [tableId, table] = connectionsTableOf(templates[PRIMARY]!);

    // Assess
    expect(tableId).toBe('ConnectionsTable');
    expect(table.Properties).toMatchObject({
      TableName: TABLE_NAME,
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
    expect([...(table.Properties['Replicas'] as { Region: string }[])].sort(byJson)).toEqual(
      [PRIMARY, SECONDARY].map((region) => ({ Region: region, DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })).sort(byJson),
    );
    expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('deletes the global table and its replica with the stack in a stage that keeps no data (dev\'s settings)', () => {
    // Act
    const [, table] = connectionsTableOf(Template.fromStack(compose(undefined, 'dev').primary));

    // Assess
    expect(table).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    expect((table.Properties['Replicas'] as { DeletionProtectionEnabled: boolean }[]).map((replica) => replica.DeletionProtectionEnabled)).toEqual([false, false]);
  });

  it('keeps the single-region table\'s keys and indexes', () => {
    // Prepare
    const [, regional] = resourcesOf(Template.fromStack(stackOnly('prod').stack), 'AWS::DynamoDB::Table').find(([id]) => id === 'ConnectionsTable')!;

    // Act
    const [, table] = connectionsTableOf(templates[PRIMARY]!);

    // Assess
    for (const key of ['KeySchema', 'AttributeDefinitions', 'GlobalSecondaryIndexes']) expect(table.Properties[key]).toEqual(regional.Properties[key]);
  });

  it('creates no connections table in the secondary: it reads the replica, and its stream ARN with a DescribeTable at deploy time', () => {
    // Prepare
    const template = templates[SECONDARY]!;

    // Act
    const [describeId, describe] = soleResource(template, 'Custom::AWS');
    const [, provider] = resourcesOf(template, 'AWS::IAM::Policy').find(([id]) => id.startsWith('ConnectionsTableReplicaStreamCustomResourcePolicy'))!;

    // Assess
    expect(resourcesOf(template, 'AWS::DynamoDB::GlobalTable')).toEqual([]);
    expect(resourcesOf(template, 'AWS::DynamoDB::Table').map(([id]) => id)).toEqual(['DeliveriesTable']);
    expect(JSON.parse(describe.Properties['Create'] as string)).toMatchObject({ service: 'DynamoDB', action: 'describeTable', parameters: { TableName: TABLE_NAME } });
    expect((provider.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([{ Action: 'dynamodb:DescribeTable', Effect: 'Allow', Resource: tableArnIn(SECONDARY) }]);
    const [logsId, logGroup] = resourceIn(template, 'AWS::Logs::LogGroup', 'ConnectionsTableReplicaStreamLogs');
    expect(logGroup.Properties).toEqual({ RetentionInDays: 30 });
    expect(resourceIn(template, 'AWS::Lambda::Function', 'AWS679f53fa')[1].Properties['LoggingConfig']).toEqual({ LogGroup: { Ref: logsId } });
    const mappings = resourcesOf(template, 'AWS::Lambda::EventSourceMapping').filter(([, mapping]) => JSON.stringify(mapping.Properties['EventSourceArn']).includes('ConnectionsTable'));
    expect(mappings).toHaveLength(2);
    for (const [, mapping] of mappings) expect(mapping.Properties['EventSourceArn']).toEqual({ 'Fn::GetAtt': [describeId, 'Table.LatestStreamArn'] });
  });

  it('reads the stream of its own replica in the primary too: the reconciler and the route index in each region', () => {
    // Act
    const mappings = resourcesOf(templates[PRIMARY]!, 'AWS::Lambda::EventSourceMapping').filter(([, mapping]) => JSON.stringify(mapping.Properties['EventSourceArn']).includes('ConnectionsTable'));

    // Assess
    expect(mappings.map(([, mapping]) => mapping.Properties['EventSourceArn'])).toEqual([
      { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
      { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
    ]);
    expect(resourcesOf(templates[PRIMARY]!, 'Custom::AWS')).toEqual([]);
  });

  it.each([PRIMARY, SECONDARY])('keeps a deliveries table, a payload bucket and a bus named graph-relay-<stage> in %s', (region) => {
    // Act
    const template = templates[region]!;

    // Assess
    expect(resourceIn(template, 'AWS::DynamoDB::Table', 'DeliveriesTable')[1].Properties).toMatchObject({ TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } });
    expect(soleResource(template, 'AWS::S3::Bucket')[0]).toBe('PayloadBucket');
    const [busId, bus] = soleResource(template, 'AWS::Events::EventBus');
    expect([busId, bus.Properties['Name']]).toEqual(['NotificationBus', 'graph-relay-global']);
  });

  describe.each([
    [PRIMARY, 'PRIMARY'],
    [SECONDARY, 'SECONDARY'],
  ])('the webhook domain in %s', (region, failover) => {
    let template: Template;
    beforeAll(() => {
      template = templates[region]!;
    });

    it('has its own certificate, DNS-validated by the one record the primary writes in the zone, and an API Gateway custom domain mapped to the webhook API', () => {
      // Act
      const [certificateId, certificate] = soleResource(template, 'AWS::CertificateManager::Certificate');
      const [domainId, domain] = soleResource(template, 'AWS::ApiGatewayV2::DomainName');
      const [, mapping] = soleResource(template, 'AWS::ApiGatewayV2::ApiMapping');
      const [apiId] = soleResource(template, 'AWS::ApiGatewayV2::Api');

      // Assess
      expect(certificate.Properties).toMatchObject({ DomainName: DOMAIN, ValidationMethod: 'DNS' });
      // The validation record is one per account and name, in every region: the primary's certificate writes it,
      // the secondary's is validated by it (a second write of the same record would fail).
      expect(certificate.Properties['DomainValidationOptions']).toEqual(region === PRIMARY ? [{ DomainName: DOMAIN, HostedZoneId: ZONE_ID }] : undefined);
      expect(domain.Properties).toEqual({
        DomainName: DOMAIN,
        DomainNameConfigurations: [{ CertificateArn: { Ref: certificateId }, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }],
      });
      expect(mapping.Properties).toEqual({ ApiId: { Ref: apiId }, DomainName: { Ref: domainId }, Stage: '$default' });
    });

    it(`checks this region's GET /health over HTTPS by its execute-api host, and answers ${DOMAIN} with a ${failover} failover alias carrying that check`, () => {
      // Act
      const [healthCheckId, healthCheck] = soleResource(template, 'AWS::Route53::HealthCheck');
      const [, record] = soleResource(template, 'AWS::Route53::RecordSet');
      const [apiId] = soleResource(template, 'AWS::ApiGatewayV2::Api');
      const [domainId] = soleResource(template, 'AWS::ApiGatewayV2::DomainName');

      // Assess
      expect(healthCheck.Properties['HealthCheckConfig']).toEqual({
        Type: 'HTTPS',
        FullyQualifiedDomainName: { 'Fn::Join': ['', [{ Ref: apiId }, `.execute-api.${region}.`, { Ref: 'AWS::URLSuffix' }]] },
        Port: 443,
        ResourcePath: '/health',
        EnableSNI: true,
        RequestInterval: HEALTH_CHECK.requestInterval.toSeconds(),
        FailureThreshold: HEALTH_CHECK.failureThreshold,
        Inverted: false,
        MeasureLatency: false,
      });
      expect([10, 30]).toContain(HEALTH_CHECK.requestInterval.toSeconds());
      expect(record.Properties).toEqual({
        HostedZoneId: ZONE_ID,
        Name: `${DOMAIN}.`,
        Type: 'A',
        Failover: failover,
        SetIdentifier: region,
        HealthCheckId: { Ref: healthCheckId },
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] },
          HostedZoneId: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] },
          EvaluateTargetHealth: true,
        },
      });
    });

    it('routes GET /health to the intake, through the webhook\'s own integration', () => {
      // Act
      const routes = resourcesOf(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);
      const [intakeId] = resourceIn(template, 'AWS::Lambda::Function', 'Intake');

      // Assess
      expect(routes.map((route) => route['RouteKey']).sort()).toEqual(['ANY /webhook/{integrationId}', 'GET /health']);
      expect(routes[0]!['Target']).toEqual(routes[1]!['Target']);
      const permissions = resourcesOf(template, 'AWS::Lambda::Permission').filter(([, permission]) => JSON.stringify(permission.Properties['FunctionName']).includes(intakeId));
      expect(permissions.map(([, permission]) => JSON.stringify(permission.Properties['SourceArn'])).some((arn) => arn.includes('/health'))).toBe(true);
    });

    it('gives Graph https://<webhookDomain>/webhook/<id>: the functions that create subscriptions and the outputs', () => {
      // Act
      const outputs = template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
      const [apiId] = soleResource(template, 'AWS::ApiGatewayV2::Api');
      const [healthCheckId] = soleResource(template, 'AWS::Route53::HealthCheck');

      // Assess
      for (const prefix of ['RenewalScheduleRenewal', 'LifecycleHandlerLifecycle', 'ReconcilerReconcile']) {
        expect(functionOf(template, prefix).environment[ENV.webhookBaseUrl]).toBe(`https://${DOMAIN}/webhook/`);
      }
      expect(outputs['WebhookBaseUrl']?.Value).toBe(`https://${DOMAIN}/webhook/`);
      expect(outputs[webhookUrlOutputId('contoso')]?.Value).toBe(`https://${DOMAIN}/webhook/contoso`);
      expect(outputs['RegionalWebhookBaseUrl']?.Value).toEqual({ 'Fn::Join': ['', ['https://', { Ref: apiId }, `.execute-api.${region}.`, { Ref: 'AWS::URLSuffix' }, '/webhook/']] });
      expect(outputs['HealthCheckId']?.Value).toEqual({ Ref: healthCheckId });
      expect(outputs['SecretReplicaRegions']?.Value).toBe(region === PRIMARY ? SECONDARY : PRIMARY);
      expect(outputs['ConnectionsTableName']?.Value).toEqual(region === PRIMARY ? { Ref: 'ConnectionsTable' } : TABLE_NAME);
    });
  });

  describe.each([PRIMARY, SECONDARY])('the writer lease in %s', (region) => {
    let template: Template;
    beforeAll(() => {
      template = templates[region]!;
    });

    it('heartbeats every minute (EventBridge Scheduler), one run at a time, with the functions it hands work to in its environment', () => {
      // Act
      const { fn, environment } = functionOf(template, 'WriterLeaseHeartbeat');
      const [fnId] = resourceIn(template, 'AWS::Lambda::Function', 'WriterLeaseHeartbeat');
      const [, schedule] = resourceIn(template, 'AWS::Scheduler::Schedule', 'WriterLeaseSchedule');

      // Assess
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], ReservedConcurrentExecutions: 1 });
      expect(environment).toEqual({
        POWERTOOLS_SERVICE_NAME: 'graph-relay-writer-lease',
        [ENV.connectionsTable]: region === PRIMARY ? { Ref: 'ConnectionsTable' } : TABLE_NAME,
        [ENV.writerLease]: 'on',
        [ENV.relayRegion]: region,
        [ENV.writerLeaseTable]: region === PRIMARY ? { Ref: expect.stringMatching(/^WriterLeaseTable/) } : 'graph-relay-global-writer-lease',
        [ENV.renewalFunctionName]: { Ref: resourceIn(template, 'AWS::Lambda::Function', 'RenewalScheduleRenewal')[0] },
        [ENV.reconcileFunctionName]: { Ref: resourceIn(template, 'AWS::Lambda::Function', 'ReconcilerReconcile')[0] },
        [ENV.lifecycleFunctionName]: { Ref: resourceIn(template, 'AWS::Lambda::Function', 'LifecycleHandlerLifecycle')[0] },
        [ENV.resyncQueueUrl]: { Ref: resourceIn(template, 'AWS::SQS::Queue', 'ResyncQueue')[0] },
      });
      expect(schedule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', FlexibleTimeWindow: { Mode: 'OFF' }, Target: { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } } });
    });

    it('may touch only the lease and the hand-offs, invoke exactly renewal, reconcile and lifecycle, and send to the resync queue', () => {
      // Act
      const { statements } = functionOf(template, 'WriterLeaseHeartbeat');
      const arnOf = (prefix: string, type = 'AWS::Lambda::Function') => ({ 'Fn::GetAtt': [resourceIn(template, type, prefix)[0], 'Arn'] });

      // Assess
      expect([...statements].sort(byJson)).toEqual(
        [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arnOf('WriterLeaseHeartbeatLogGroup', 'AWS::Logs::LogGroup') },
          {
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: leaseArnIn(region),
            Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['LEASE'] } },
          },
          {
            Effect: 'Allow',
            Action: ['dynamodb:DeleteItem', 'dynamodb:Query'],
            Resource: tableArnIn(region),
            Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['HANDOFF'] } },
          },
          {
            Effect: 'Allow',
            Action: 'lambda:InvokeFunction',
            Resource: [arnOf('LifecycleHandlerLifecycle'), arnOf('ReconcilerReconcile'), arnOf('RenewalScheduleRenewal')],
          },
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf('ResyncQueue', 'AWS::SQS::Queue') },
        ].sort(byJson),
      );
    });

    it.each([
      ['renewal', 'RenewalScheduleRenewal', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']],
      ['reconcile', 'ReconcilerReconcile', ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
      ['lifecycle', 'LifecycleHandlerLifecycle', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']],
      ['resync', 'ResyncWorker', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    ])('gates %s on the lease: WRITER_LEASE=on, its region, and table grants covering the lease read and hand-off writes, on this region\'s replica only', (_name, prefix, actions) => {
      // Act
      const { environment, statements } = functionOf(template, prefix);
      const onTable = tableStatements(statements).filter((statement) => JSON.stringify(statement['Resource']) === JSON.stringify(tableArnIn(region)));

      // Assess
      expect(environment).toMatchObject({ [ENV.writerLease]: 'on', [ENV.relayRegion]: region });
      expect(onTable).toEqual([{ Effect: 'Allow', Action: actions, Resource: tableArnIn(region) }]);
      // The lease itself: one consistent read in its own table, nothing more.
      expect(tableStatements(statements).filter((statement) => JSON.stringify(statement['Resource']).includes('riterLease') || JSON.stringify(statement['Resource']).includes('writer-lease'))).toEqual([
        { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: leaseArnIn(region) },
      ]);
      expect(JSON.stringify(statements)).not.toContain(region === PRIMARY ? SECONDARY : PRIMARY);
    });

    it.each([['intake', 'Intake'], ['route index', 'RouteIndex'], ['migration', 'TableMigrationMigrate']])('leaves the %s ungated (it writes nothing to Graph)', (_name, prefix) => {
      // Act
      const { environment } = functionOf(template, prefix);

      // Assess
      expect(environment[ENV.writerLease]).toBeUndefined();
    });
  });

  describe.each([PRIMARY, SECONDARY])('cdk-nag AwsSolutions in %s', (region) => {
    it('synthesizes with no unacknowledged finding, and acknowledges only findings that occur', () => {
      // Prepare
      const { app: composed } = compose();
      const stackOf = (root: App) => root.node.findChild(regionalStackName('global', region));
      const acknowledgements = acknowledgementsIn(stackOf(composed));
      const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
      const findings = new AwsSolutionsChecks()
        .validateScope(stackOf(compose().app))
        .violations.flatMap((violation) => violation.violatingResources.map((resource) => ({ id: violation.ruleName, path: resource.constructPath ?? '' })));
      spy.mockRestore();

      // Act
      const assembly = composed.synth();

      // Assess
      const report = JSON.parse(readFileSync(join(assembly.directory, VALIDATION_REPORT_FILE), 'utf8')) as { pluginReports: { violations: unknown[] }[] };
      expect(report.pluginReports.filter((plugin) => plugin.violations.length > 0)).toEqual([]);
      const covers = (ack: { id: string; path: string }, finding: { id: string; path: string }) => finding.id === ack.id && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`));
      expect(acknowledgements.filter((ack) => !findings.some((finding) => covers(ack, finding)))).toEqual([]);
      expect(findings.filter((finding) => !acknowledgements.some((ack) => covers(ack, finding)))).toEqual([]);
    });
  });
});

describe.each(STAGE_NAMES)('GraphRelay-%s (single region)', (stage) => {
  it('has none of the multi-region resources, environment or outputs', () => {
    // Prepare
    expect(parseStageConfig(stage).multiRegion).toBeUndefined();
    const app = new App({ context: { ...cdkJsonContext, stage } });

    // Act
    const stack = composeGraphRelayApp(app, parseStageConfig(stage));
    const template = Template.fromStack(stack);

    // Assess
    expect(app.node.children.filter((child) => child instanceof Stack).map((child) => (child as Stack).stackName)).toEqual([`GraphRelay-${stage}`]);
    for (const type of [
      'AWS::DynamoDB::GlobalTable',
      'Custom::AWS',
      'AWS::CertificateManager::Certificate',
      'AWS::ApiGatewayV2::DomainName',
      'AWS::ApiGatewayV2::ApiMapping',
      'AWS::Route53::HealthCheck',
      'AWS::Route53::RecordSet',
    ]) {
      expect([type, resourcesOf(template, type)]).toEqual([type, []]);
    }
    expect(resourcesOf(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties['RouteKey'])).toEqual(['ANY /webhook/{integrationId}']);
    expect(resourcesOf(template, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('WriterLease'))).toEqual([]);
    const text = JSON.stringify(template.toJSON());
    for (const name of [ENV.writerLease, ENV.relayRegion, 'RegionalWebhookBaseUrl', 'HealthCheckId', 'SecretReplicaRegions']) expect([name, text.includes(name)]).toEqual([name, false]);
    expect((soleResource(template, 'AWS::Events::EventBus')[1] as CfnResource).Properties['Name']).not.toBe(`graph-relay-${stage}`);
    expect(resourceIn(template, 'AWS::DynamoDB::Table', 'ConnectionsTable')[1].Properties['TimeToLiveSpecification']).toBeUndefined();
  });
});

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
}

function acknowledgementsIn(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.keys(entry.data as Record<string, string>).map((qualifiedId) => ({ path: construct.node.path, id: qualifiedId.replace(/^annotation::/i, '') }))),
  );
}

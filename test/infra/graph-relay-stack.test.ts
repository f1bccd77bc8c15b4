import { TABLE_MIGRATIONS_VERSION } from '../../shared/store/migrations';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { ConnectionsTable } from '../../infra/constructs/connections-table';
import { composeGraphRelayApp } from '../../infra/graph-relay-app';
import { IntegrationSecrets } from '../../infra/constructs/integration-secrets';
import { NotificationBus } from '../../infra/constructs/notification-bus';
import { RenewalSchedule, type RenewalScheduleProps } from '../../infra/constructs/renewal-schedule';
import { parseStageConfig, STAGE_NAMES, UnknownStageError, webhookUrlOutputId, type StageName } from '../../infra/stage-config';
import { buildFunctions } from '../../scripts/build';
import { ENV, PAYLOAD_BUCKET_ENV } from '../../shared/config/env-names';
import { CONNECTION_INDEX } from '../../shared/store/connection-index';
import { RENEWAL_INDEX } from '../../shared/store/renewal-index';
import { byJson, cdkJsonContext, resourceIn, resourcesOf, soleResource, stackOnly, type CfnResource } from './helpers';

/** The app exactly as `cdk synth` composes it, cdk-nag included. */
function composeApp(stage: StageName) {
  const app = new App({ context: { ...cdkJsonContext, stage } });
  const stack = composeGraphRelayApp(app, parseStageConfig(stage));
  return { app, stack };
}

const intakeOf = (template: Template, type = 'AWS::Lambda::Function') => resourceIn(template, type, 'Intake');
const renewalOf = (template: Template, type = 'AWS::Lambda::Function') => resourceIn(template, type, 'RenewalScheduleRenewal');
/** The queue lifecycle, renewal and the reconciler ask for resyncs on (test/infra/resync.test.ts covers the rest). */
const resyncQueueOf = (template: Template) => resourceIn(template, 'AWS::SQS::Queue', 'ResyncQueue')[0];

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Acknowledgements as recorded by `Validations.of(x).acknowledge()`, through its public metadata key. */
function acknowledgementsIn(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([qualifiedId, reason]) => ({
          path: construct.node.path,
          id: qualifiedId.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

beforeAll(async () => {
  await buildFunctions();
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('stage config', () => {
  it('defaults to dev', () => {
    // Act
    const config = parseStageConfig(undefined);

    // Assess
    expect(config.stage).toBe('dev');
  });

  it('refuses an unknown stage, naming the valid ones', () => {
    // Act
    const parse = () => parseStageConfig('staging');

    // Assess
    expect(parse).toThrow(UnknownStageError);
    expect(parse).toThrow('Unknown stage "staging": use -c stage=<dev|prod>.');
  });
});

describe('RenewalSchedule', () => {
  function renewalIn(intervalMinutes: number) {
    const app = new App({ context: cdkJsonContext });
    const stack = new Stack(app, 'Renewal');
    const props: RenewalScheduleProps = {
      connections: new ConnectionsTable(stack, 'ConnectionsTable', { retainData: false }),
      publishes: { bus: new NotificationBus(stack, 'Bus', { eventSource: 'graph-relay', archiveRetentionDays: 1 }).bus, eventSource: 'graph-relay' },
      integrationSecrets: new IntegrationSecrets(stack, 'graph-relay/test/integrations/'),
      webhookBaseUrl: 'https://relay.example.com/webhook/',
      intervalMinutes,
      logRetention: RetentionDays.ONE_DAY,
      logRemovalPolicy: RemovalPolicy.DESTROY,
    };
    return () => Template.fromStack((new RenewalSchedule(stack, 'RenewalSchedule', props), stack));
  }

  it('runs on the interval it is given, and lets a queued run wait at most one interval', () => {
    // Act
    const template = renewalIn(5)();

    // Assess
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      Target: Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300 } }),
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 0 });
  });

  it.each([0, 1.5])('refuses an interval of %p minutes', (minutes) => {
    // Act
    const create = renewalIn(minutes);

    // Assess
    expect(create).toThrow('renewal interval must be a whole number of minutes');
  });
});

describe.each(STAGE_NAMES)('GraphRelay-%s', (stage) => {
  const config = parseStageConfig(stage);
  const retained = config.retainData ? 'Retain' : 'Delete';
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(stackOnly(stage).stack);
  });

  it('runs the intake on Node.js 22, arm64, from the built bundle', () => {
    // Act
    const [, intake] = intakeOf(template);

    // Assess
    expect(intake.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: config.intakeMemoryMb,
      Timeout: 8,
      LoggingConfig: { LogFormat: 'JSON' },
    });
    expect(intake.Properties).not.toHaveProperty('TracingConfig');
  });

  it('gives the intake exactly the names it needs and no secret', () => {
    // Act
    const [, intake] = intakeOf(template);

    // Assess
    expect(intake.Properties['Environment']).toEqual({
      Variables: {
        [ENV.connectionsTable]: { Ref: 'ConnectionsTable' },
        [ENV.deliveriesTable]: { Ref: 'DeliveriesTable' },
        [ENV.eventBus]: { Ref: 'NotificationBus' },
        [ENV.eventSource]: 'graph-relay',
        [ENV.webhookSecretPrefix]: `graph-relay/${stage}/integrations/`,
        [PAYLOAD_BUCKET_ENV]: { Ref: 'PayloadBucket' },
        POWERTOOLS_SERVICE_NAME: 'graph-relay-intake',
      },
    });
  });

  it('deploys the ESM bundle folder as built, without the bundle analysis', () => {
    // Prepare
    const { app, stack } = stackOnly(stage);
    const assembly = app.synth();
    const [, intake] = intakeOf(Template.fromStack(stack));
    // The asset manifest is what `cdk deploy` zips and uploads; the function's S3 key names its entry.
    const assetManifest = JSON.parse(readFileSync(join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging?: string } }>;
    };
    const assetHash = (intake.Properties['Code'] as { S3Key: string }).S3Key.replace(/\.zip$/, '');
    const asset = assetManifest.files[assetHash];
    expect(asset?.source.packaging).toBe('zip');
    const assetDir = join(assembly.directory, asset!.source.path);

    // Act
    const files = readdirSync(assetDir, { recursive: true, withFileTypes: true })
      .filter((file) => file.isFile())
      .map((file) => join(file.parentPath, file.name).slice(assetDir.length + 1));
    const packageJson = JSON.parse(readFileSync(join(assetDir, 'package.json'), 'utf8')) as unknown;
    const entry = readFileSync(join(assetDir, 'index.js'), 'utf8');

    // Assess
    expect(files.filter((file) => !/^(index\.js|package\.json|chunks\/[\w.-]+\.js)$/.test(file))).toEqual([]);
    expect(packageJson).toEqual({ type: 'module' });
    expect(entry).toMatch(/export\s*\{\s*\w+ as handler\s*\}/);
    expect(entry).toContain('import("./chunks/');
  });

  it('grants the intake role exactly its calls, on its own resources', () => {
    // Prepare
    const [functionId, intake] = intakeOf(template);
    const [roleId] = intakeOf(template, 'AWS::IAM::Role');
    const logGroupId = (intake.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

    // Act
    const [, policy] = intakeOf(template, 'AWS::IAM::Policy');
    const statements = (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;

    // Assess
    expect(intake.Properties['Role']).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
    expect([...statements].sort(byJson)).toEqual(
      [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
        },
        {
          Effect: 'Allow',
          Action: ['dynamodb:BatchGetItem', 'dynamodb:Query'],
          Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
        },
        {
          Effect: 'Allow',
          Action: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem'],
          Resource: { 'Fn::GetAtt': ['DeliveriesTable', 'Arn'] },
        },
        {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: { 'Fn::GetAtt': ['NotificationBus', 'Arn'] },
        },
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['PayloadBucket', 'Arn'] }, '/*']] },
        },
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':secretsmanager:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                `:secret:graph-relay/${stage}/integrations/*`,
              ],
            ],
          },
        },
      ].sort(byJson),
    );
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
      },
      ManagedPolicyArns: Match.absent(),
      Policies: Match.absent(),
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/*/*/webhook/{integrationId}'])] },
    });
  });

  it('routes every method of /webhook/{integrationId} to the intake, payload 2.0, with no authorizer', () => {
    // Prepare
    const [functionId] = intakeOf(template);

    // Act
    const [integrationId, integration] = soleResource(template, 'AWS::ApiGatewayV2::Integration');
    const [, route] = soleResource(template, 'AWS::ApiGatewayV2::Route');

    // Assess
    expect(integration.Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [functionId, 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
    expect(route.Properties).toMatchObject({
      RouteKey: 'ANY /webhook/{integrationId}',
      AuthorizationType: 'NONE',
      Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
    });
  });

  it('throttles the webhook route and the $default stage as the stage config says', () => {
    // Act
    const [routeId] = soleResource(template, 'AWS::ApiGatewayV2::Route');
    const [, apiStage] = soleResource(template, 'AWS::ApiGatewayV2::Stage');

    // Assess
    const throttle = { ThrottlingRateLimit: config.webhookThrottle.rateLimit, ThrottlingBurstLimit: config.webhookThrottle.burstLimit };
    expect(apiStage.Properties['RouteSettings']).toEqual({ 'ANY /webhook/{integrationId}': throttle });
    expect(apiStage.Properties['DefaultRouteSettings']).toEqual(throttle);
    // Settings for a route key the API does not have yet are refused by CloudFormation.
    expect(apiStage['DependsOn']).toContain(routeId);
  });

  it(`reserves the intake's concurrency as the stage config says (${String(config.reservedConcurrency.intake)})`, () => {
    // Act
    const [, intake] = intakeOf(template);

    // Assess
    const { intake: reserved } = config.reservedConcurrency;
    if (reserved === 'unreserved') expect(intake.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    else expect(intake.Properties['ReservedConcurrentExecutions']).toBe(reserved);
  });

  it('throttles the $default stage and writes access logs without query strings', () => {
    // Act
    const [, apiStage] = soleResource(template, 'AWS::ApiGatewayV2::Stage');
    const accessLogs = apiStage.Properties['AccessLogSettings'] as { DestinationArn: unknown; Format: string };
    const format = JSON.parse(accessLogs.Format) as Record<string, string>;

    // Assess
    expect(apiStage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: config.webhookThrottle.rateLimit,
        ThrottlingBurstLimit: config.webhookThrottle.burstLimit,
      },
    });
    expect(accessLogs.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
    expect(format['requestId']).toBe('$context.requestId');
    expect(Object.values(format).filter((variable) => /querystring|rawquery/i.test(variable))).toEqual([]);
  });

  it(`keeps connections in a pk/sk, on-demand, PITR table (${retained} on stack deletion)`, () => {
    // Assess
    template.templateMatches({
      Resources: {
        ConnectionsTable: {
          Type: 'AWS::DynamoDB::Table',
          DeletionPolicy: retained,
          UpdateReplacePolicy: retained,
          Properties: {
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'sk', KeyType: 'RANGE' },
            ],
            AttributeDefinitions: [
              { AttributeName: 'pk', AttributeType: 'S' },
              { AttributeName: 'sk', AttributeType: 'S' },
              { AttributeName: 'renewalShard', AttributeType: 'S' },
              { AttributeName: 'renewAt', AttributeType: 'S' },
              { AttributeName: 'connectionKey', AttributeType: 'S' },
            ],
            BillingMode: 'PAY_PER_REQUEST',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: config.retainData,
          },
        },
      },
    });
  });

  it('indexes active subscriptions by renewal shard and due time, and every subscription by connection, projecting whole items', () => {
    // Act
    const table = template.toJSON()['Resources']['ConnectionsTable'] as CfnResource;

    // Assess
    expect(table.Properties['GlobalSecondaryIndexes']).toEqual([
      {
        IndexName: RENEWAL_INDEX.indexName,
        KeySchema: [
          { AttributeName: 'renewalShard', KeyType: 'HASH' },
          { AttributeName: 'renewAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: CONNECTION_INDEX.indexName,
        KeySchema: [
          { AttributeName: 'connectionKey', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(RENEWAL_INDEX).toEqual({ indexName: 'ByRenewalDue', partitionKey: 'renewalShard', sortKey: 'renewAt' });
    expect(CONNECTION_INDEX).toEqual({ indexName: 'ByConnection', partitionKey: 'connectionKey', sortKey: 'sk' });
  });

  it('grants Query on the renewal index alone to whoever finds subscriptions due', () => {
    // Prepare
    const app = new App({ context: { ...cdkJsonContext, stage } });
    const stack = new Stack(app, 'RenewalGrant');
    const connections = new ConnectionsTable(stack, 'ConnectionsTable', { retainData: config.retainData });
    const role = new iam.Role(stack, 'Renewal', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    // Act
    connections.grantQueryRenewalIndex(role);

    // Assess
    const [, policy] = soleResource(Template.fromStack(stack), 'AWS::IAM::Policy');
    expect((policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] }, '/index/ByRenewalDue']] },
      },
    ]);
  });

  it('grants Query on the connection index alone to whoever finds a connection\'s subscriptions by key', () => {
    // Prepare
    const app = new App({ context: { ...cdkJsonContext, stage } });
    const stack = new Stack(app, 'ConnectionIndexGrant');
    const connections = new ConnectionsTable(stack, 'ConnectionsTable', { retainData: config.retainData });
    const role = new iam.Role(stack, 'Reconciler', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });

    // Act
    connections.grantQueryConnectionIndex(role);

    // Assess
    const [, policy] = soleResource(Template.fromStack(stack), 'AWS::IAM::Policy');
    expect((policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] }, '/index/ByConnection']] },
      },
    ]);
  });

  it('keeps redelivery markers in a TTL table that is never retained', () => {
    // Assess
    template.templateMatches({
      Resources: {
        DeliveriesTable: {
          Type: 'AWS::DynamoDB::Table',
          DeletionPolicy: 'Delete',
          Properties: {
            KeySchema: [{ AttributeName: 'idempotencyKey', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'idempotencyKey', AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          },
        },
      },
    });
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  it(`keeps large payloads in a private, encrypted, TLS-only, unversioned bucket expiring with the archive (${retained} on stack deletion)`, () => {
    // Act
    const [bucketId, bucket] = soleResource(template, 'AWS::S3::Bucket');
    const [, policy] = soleResource(template, 'AWS::S3::BucketPolicy');

    // Assess
    expect(bucketId).toBe('PayloadBucket');
    expect(bucket['DeletionPolicy']).toBe(retained);
    expect(bucket.Properties).toEqual({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: { Rules: [{ Id: 'ExpirePayloads', ExpirationInDays: config.archiveRetentionDays, Status: 'Enabled' }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    expect(policy.Properties['PolicyDocument']).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Resource: [{ 'Fn::GetAtt': ['PayloadBucket', 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['PayloadBucket', 'Arn'] }, '/*']] }],
        },
      ],
    });
  });

  it('archives the relay events published on the bus', () => {
    // Assess
    template.templateMatches({
      Resources: {
        NotificationBus: { Type: 'AWS::Events::EventBus' },
        NotificationArchive: {
          Type: 'AWS::Events::Archive',
          Properties: {
            SourceArn: { 'Fn::GetAtt': ['NotificationBus', 'Arn'] },
            EventPattern: { source: [config.eventSource] },
            RetentionDays: config.archiveRetentionDays,
          },
        },
      },
    });
  });

  it('keeps logs for the stage retention', () => {
    // Act
    const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup')) as CfnResource[];

    // Assess: one per function, and the webhook API's access logs
    expect(logGroups).toHaveLength(Object.keys(template.findResources('AWS::Lambda::Function')).length + 1);
    for (const logGroup of logGroups) {
      expect(logGroup).toMatchObject({ DeletionPolicy: retained, Properties: { RetentionInDays: config.logRetention } });
    }
  });

  it('alarms on intake errors, throttles, 5xx rate, p99 duration, forged notifications, a 4xx flood, and failed or unrenewed renewals', () => {
    // Act
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([id]) => id.startsWith('Alarms') || id.startsWith('RenewalSchedule'));

    // Assess
    expect(alarms.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(
      [
        'AlarmsIntakeDurationP99',
        'AlarmsIntakeErrors',
        'AlarmsIntakeThrottles',
        'AlarmsNotificationsForged',
        'AlarmsWebhookClientErrors',
        'AlarmsWebhookServerErrorRate',
        'RenewalScheduleDeadLetters',
        'RenewalScheduleRenewalErrors',
        'RenewalScheduleRenewalFailures',
      ].sort(),
    );
  });

  it('outputs what the operator CLI reads', () => {
    // Act
    const outputs = template.findOutputs('*');

    // Assess
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AlarmTopicArn',
        'ArchiveArn',
        'ArchiveName',
        'ConnectionsTableName',
        'DashboardName',
        'DeliveriesTableName',
        'EventBusArn',
        'EventBusName',
        'EventSource',
        'IntakeFunctionName',
        'PayloadBucketName',
        'RenewalFunctionName',
        'RenewalScheduleName',
        'ResyncQueueUrl',
        'SchemaRegistryName',
        'WebhookBaseUrl',
        'WebhookSecretPrefix',
        ...Object.keys(config.integrations).map(webhookUrlOutputId),
      ].sort(),
    );
    expect(outputs['EventBusArn']?.['Value']).toEqual({ 'Fn::GetAtt': ['NotificationBus', 'Arn'] });
    expect(outputs['ArchiveName']?.['Value']).toEqual({ Ref: 'NotificationArchive' });
    expect(outputs['ArchiveArn']?.['Value']).toEqual({ 'Fn::GetAtt': ['NotificationArchive', 'Arn'] });
    expect(outputs['AlarmTopicArn']?.['Value']).toEqual({ Ref: 'AlarmTopic' });
    expect(outputs['DashboardName']?.['Value']).toEqual({ Ref: soleResource(template, 'AWS::CloudWatch::Dashboard')[0] });
    expect(outputs['RenewalScheduleName']?.['Value']).toEqual({ Ref: resourceIn(template, 'AWS::Scheduler::Schedule', 'RenewalSchedule')[0] });
    expect(outputs['ConnectionsTableName']?.['Value']).toEqual({ Ref: 'ConnectionsTable' });
    expect(outputs['DeliveriesTableName']?.['Value']).toEqual({ Ref: 'DeliveriesTable' });
    expect(outputs['EventBusName']?.['Value']).toEqual({ Ref: 'NotificationBus' });
    expect(outputs['EventSource']?.['Value']).toBe(config.eventSource);
    expect(outputs['PayloadBucketName']?.['Value']).toEqual({ Ref: 'PayloadBucket' });
    expect(outputs['WebhookSecretPrefix']?.['Value']).toBe(`graph-relay/${stage}/integrations/`);
    expect(outputs['IntakeFunctionName']?.['Value']).toEqual({ Ref: intakeOf(template)[0] });
    expect(outputs['RenewalFunctionName']?.['Value']).toEqual({ Ref: renewalOf(template)[0] });
    expect(outputs['ResyncQueueUrl']?.['Value']).toEqual({ Ref: resyncQueueOf(template) });
    expect(outputs['WebhookBaseUrl']?.['Value']).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: soleResource(template, 'AWS::ApiGatewayV2::Api')[0] },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/webhook/',
        ],
      ],
    });
  });

  describe('renewal schedule', () => {
    it('runs the renewal on Node.js 22, arm64, one run at a time, for up to 5 minutes, never retried', () => {
      // Act
      const [functionId, renewal] = renewalOf(template);
      const [, invokeConfig] = renewalOf(template, 'AWS::Lambda::EventInvokeConfig');

      // Assess
      expect(renewal.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: 300,
        ReservedConcurrentExecutions: 1,
        LoggingConfig: { LogFormat: 'JSON' },
      });
      expect(invokeConfig.Properties).toEqual({
        FunctionName: { Ref: functionId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: config.renewalIntervalMinutes * 60,
      });
    });

    it(`invokes the renewal every ${config.renewalIntervalMinutes} minutes from an EventBridge Scheduler schedule, with retries and a dead-letter queue`, () => {
      // Prepare
      const [functionId] = renewalOf(template);
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'RenewalScheduleDeadLetterQueue');
      const [roleId] = resourceIn(template, 'AWS::IAM::Role', 'RenewalScheduleRole');

      // Act
      const [, schedule] = resourceIn(template, 'AWS::Scheduler::Schedule', 'RenewalSchedule');

      // Assess
      expect(config.renewalIntervalMinutes).toBe(15);
      expect(schedule.Properties).toEqual({
        Description: 'Renews due Microsoft Graph subscriptions every 15 minutes',
        ScheduleExpression: 'rate(15 minutes)',
        ScheduleExpressionTimezone: 'Etc/UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 900 },
        },
      });
      expect(resourcesOf(template, 'AWS::Events::Rule').filter(([id]) => id.startsWith('RenewalSchedule'))).toEqual([]);
    });

    it('gives the renewal the names, the webhook base URL, the Graph endpoints and the resync queue, and no secret', () => {
      // Prepare
      const webhookBaseUrl = template.findOutputs('WebhookBaseUrl')['WebhookBaseUrl']?.['Value'] as unknown;

      // Act
      const [, renewal] = renewalOf(template);

      // Assess
      expect(JSON.stringify(webhookBaseUrl)).toContain('/webhook/');
      expect(renewal.Properties['Environment']).toEqual({
        Variables: {
          [ENV.connectionsTable]: { Ref: 'ConnectionsTable' },
          [ENV.eventBus]: { Ref: 'NotificationBus' },
          [ENV.eventSource]: 'graph-relay',
          [ENV.webhookSecretPrefix]: `graph-relay/${stage}/integrations/`,
          [ENV.webhookBaseUrl]: webhookBaseUrl,
          GRAPH_API_URL: 'https://graph.microsoft.com',
          GRAPH_LOGIN_URL: 'https://login.microsoftonline.com',
          [ENV.resyncQueueUrl]: { Ref: resyncQueueOf(template) },
          POWERTOOLS_SERVICE_NAME: 'graph-relay-renewal',
        },
      });
    });

    it('grants the renewal role exactly the calls of a run, on its own resources, and resync requests', () => {
      // Prepare
      const [, renewal] = renewalOf(template);
      const [roleId] = renewalOf(template, 'AWS::IAM::Role');
      const logGroupId = (renewal.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

      // Act
      const [, policy] = renewalOf(template, 'AWS::IAM::Policy');
      const statements = (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;

      // Assess
      expect(renewal.Properties['Role']).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
      expect([...statements].sort(byJson)).toEqual(
        [
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
          },
          {
            Effect: 'Allow',
            Action: 'dynamodb:Query',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] }, '/index/ByRenewalDue']] },
          },
          {
            Effect: 'Allow',
            Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
          },
          {
            Effect: 'Allow',
            Action: 'events:PutEvents',
            Resource: { 'Fn::GetAtt': ['NotificationBus', 'Arn'] },
          },
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [resyncQueueOf(template), 'Arn'] } },
          {
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':secretsmanager:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  `:secret:graph-relay/${stage}/integrations/*`,
                ],
              ],
            },
          },
        ].sort(byJson),
      );
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
        },
        ManagedPolicyArns: Match.absent(),
        Policies: Match.absent(),
      });
    });
  });

  describe('reconciler', () => {
    const reconcilerOf = (type = 'AWS::Lambda::Function') => resourceIn(template, type, 'ReconcilerReconcile');

    it('streams new and old images of the connections table, which keeps its logical id', () => {
      // Act
      const table = template.toJSON()['Resources']['ConnectionsTable'] as CfnResource;

      // Assess
      expect(table.Type).toBe('AWS::DynamoDB::Table');
      expect(table.Properties['StreamSpecification']).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    });

    it('runs the reconciler on Node.js 22, one invocation at a time, for up to 5 minutes, scheduled runs never retried', () => {
      // Act
      const [functionId, fn] = reconcilerOf();
      const [, invokeConfig] = reconcilerOf('AWS::Lambda::EventInvokeConfig');

      // Assess
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 300, ReservedConcurrentExecutions: 1 });
      expect(invokeConfig.Properties).toEqual({
        FunctionName: { Ref: functionId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: config.reconcileIntervalMinutes * 60,
      });
    });

    it('is fed connection items only from the stream, in small bisected batches, reporting item failures to an encrypted queue', () => {
      // Prepare
      const [functionId] = reconcilerOf();
      const [queueId, queue] = resourceIn(template, 'AWS::SQS::Queue', 'ReconcilerStreamFailures');

      // Act
      const [, mapping] = resourceIn(template, 'AWS::Lambda::EventSourceMapping', 'ReconcilerReconcile');

      // Assess
      expect(mapping.Properties).toEqual({
        FunctionName: { Ref: functionId },
        EventSourceArn: { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
        StartingPosition: 'LATEST',
        BatchSize: 10,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 3,
        MaximumRecordAgeInSeconds: 3600,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
        FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { sk: { S: [{ prefix: 'CONNECTION#' }] } } } }) }] },
      });
      expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    });

    it(`runs a full reconcile every ${config.reconcileIntervalMinutes} minutes from an EventBridge Scheduler schedule, with retries and a dead-letter queue`, () => {
      // Prepare
      const [functionId] = reconcilerOf();
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'ReconcilerScheduleDeadLetterQueue');
      const [roleId] = resourceIn(template, 'AWS::IAM::Role', 'ReconcilerScheduleRole');

      // Act
      const [, schedule] = resourceIn(template, 'AWS::Scheduler::Schedule', 'ReconcilerSchedule');

      // Assess
      expect(config.reconcileIntervalMinutes).toBe(60);
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: 'rate(1 hour)',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 900 },
        },
      });
      expect(resourcesOf(template, 'AWS::Events::Rule').filter(([id]) => id.startsWith('Reconciler'))).toEqual([]);
    });

    it('gives the reconciler the table, the secret prefix, the webhook base URL, the Graph endpoints and the resync queue, and no bus', () => {
      // Prepare
      const webhookBaseUrl = template.findOutputs('WebhookBaseUrl')['WebhookBaseUrl']?.['Value'] as unknown;

      // Act
      const [, fn] = reconcilerOf();

      // Assess
      expect(fn.Properties['Environment']).toEqual({
        Variables: {
          [ENV.connectionsTable]: { Ref: 'ConnectionsTable' },
          [ENV.webhookSecretPrefix]: `graph-relay/${stage}/integrations/`,
          [ENV.webhookBaseUrl]: webhookBaseUrl,
          GRAPH_API_URL: 'https://graph.microsoft.com',
          GRAPH_LOGIN_URL: 'https://login.microsoftonline.com',
          [ENV.resyncQueueUrl]: { Ref: resyncQueueOf(template) },
          POWERTOOLS_SERVICE_NAME: 'graph-relay-reconcile',
        },
      });
    });

    it('grants the reconciler role exactly the calls of a reconcile, the stream read, the failure queue and resync requests', () => {
      // Prepare
      const [, fn] = reconcilerOf();
      const [roleId] = reconcilerOf('AWS::IAM::Role');
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'ReconcilerStreamFailures');
      const logGroupId = (fn.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

      // Act
      const [, policy] = reconcilerOf('AWS::IAM::Policy');
      const statements = (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;

      // Assess
      expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
      expect([...statements].sort(byJson)).toEqual(
        [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
          {
            Effect: 'Allow',
            Action: ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
          },
          {
            Effect: 'Allow',
            Action: 'dynamodb:Query',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] }, '/index/ByConnection']] },
          },
          {
            Effect: 'Allow',
            Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
            Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
          },
          { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
          { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [resyncQueueOf(template), 'Arn'] } },
          {
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:secret:graph-relay/${stage}/integrations/*`],
              ],
            },
          },
        ].sort(byJson),
      );
    });

    it('alarms on failed invocations, changes given up to the failure queue, undelivered schedules and subscriptions expiring within 6 h', () => {
      // Act
      const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([id]) => id.startsWith('Reconciler'));

      // Assess
      expect(alarms.map(([, alarm]) => alarm.Properties['MetricName']).sort()).toEqual([
        'ApproximateNumberOfMessagesVisible',
        'ApproximateNumberOfMessagesVisible',
        'Errors',
        'SubscriptionsExpiringWithin6h',
      ]);
    });
  });

  describe('lifecycle handler', () => {
    const lifecycleOf = (type = 'AWS::Lambda::Function') => resourceIn(template, type, 'LifecycleHandlerLifecycle');

    it('runs the lifecycle handler on Node.js 22, arm64, retried twice by Lambda, then sent to its dead-letter queue', () => {
      // Prepare
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'LifecycleHandlerDeadLetterQueue');

      // Act
      const [functionId, fn] = lifecycleOf();
      const [, invokeConfig] = lifecycleOf('AWS::Lambda::EventInvokeConfig');

      // Assess
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler', Timeout: 60 });
      const { lifecycle: reserved } = config.reservedConcurrency;
      if (reserved === 'unreserved') expect(fn.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
      else expect(fn.Properties['ReservedConcurrentExecutions']).toBe(reserved);
      expect(invokeConfig.Properties).toEqual({
        FunctionName: { Ref: functionId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    });

    it('is invoked by a rule on the bus for the relay\'s Graph Lifecycle Notification events only, undeliverable events going to the same queue', () => {
      // Prepare
      const [functionId] = lifecycleOf();
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'LifecycleHandlerDeadLetterQueue');

      // Act
      const [ruleId, rule] = resourceIn(template, 'AWS::Events::Rule', 'LifecycleHandlerLifecycleEvents');

      // Assess
      expect(rule.Properties).toMatchObject({
        EventBusName: { Ref: 'NotificationBus' },
        EventPattern: { source: ['graph-relay'], 'detail-type': ['Graph Lifecycle Notification'] },
        State: 'ENABLED',
        Targets: [{ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] }, Id: 'Target0', DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } } }],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      });
    });

    it('keeps dead letters encrypted for 14 days, over TLS only, and alarms as soon as one arrives', () => {
      // Prepare
      const [queueId, queue] = resourceIn(template, 'AWS::SQS::Queue', 'LifecycleHandlerDeadLetterQueue');

      // Act
      const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'LifecycleHandlerDeadLetters');

      // Assess
      expect(queue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
      expect(alarm.Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('gives the lifecycle handler the names, the webhook base URL, the Graph endpoints and the resync queue, and no secret', () => {
      // Prepare
      const webhookBaseUrl = template.findOutputs('WebhookBaseUrl')['WebhookBaseUrl']?.['Value'] as unknown;

      // Act
      const [, fn] = lifecycleOf();

      // Assess
      expect(fn.Properties['Environment']).toEqual({
        Variables: {
          [ENV.connectionsTable]: { Ref: 'ConnectionsTable' },
          [ENV.eventBus]: { Ref: 'NotificationBus' },
          [ENV.eventSource]: 'graph-relay',
          [ENV.webhookSecretPrefix]: `graph-relay/${stage}/integrations/`,
          [ENV.webhookBaseUrl]: webhookBaseUrl,
          GRAPH_API_URL: 'https://graph.microsoft.com',
          GRAPH_LOGIN_URL: 'https://login.microsoftonline.com',
          [ENV.resyncQueueUrl]: { Ref: resyncQueueOf(template) },
          POWERTOOLS_SERVICE_NAME: 'graph-relay-lifecycle',
        },
      });
    });

    it('grants the lifecycle role exactly its calls: the record, the events, the app credentials, the dead-letter queue and resync requests', () => {
      // Prepare
      const [, fn] = lifecycleOf();
      const [roleId] = lifecycleOf('AWS::IAM::Role');
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'LifecycleHandlerDeadLetterQueue');
      const logGroupId = (fn.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

      // Act
      const [, policy] = lifecycleOf('AWS::IAM::Policy');
      const statements = (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;

      // Assess
      expect(fn.Properties['Role']).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
      expect([...statements].sort(byJson)).toEqual(
        [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
          {
            Effect: 'Allow',
            Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
          },
          { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['NotificationBus', 'Arn'] } },
          // One statement for both queues: CDK merges grants of the same action (minimizePolicies).
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: [{ 'Fn::GetAtt': [queueId, 'Arn'] }, { 'Fn::GetAtt': [resyncQueueOf(template), 'Arn'] }] },
          {
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:secret:graph-relay/${stage}/integrations/*`],
              ],
            },
          },
        ].sort(byJson),
      );
    });
  });

  describe('route index', () => {
    const routeIndexOf = (type = 'AWS::Lambda::Function') => resourceIn(template, type, 'RouteIndex');

    it('reads the connections table\'s stream from its oldest record, connection items only, in batches of 100, failures to a queue', () => {
      // Prepare
      const [functionId] = routeIndexOf();
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'RouteIndexStreamFailures');

      // Act
      const [, mapping] = resourceIn(template, 'AWS::Lambda::EventSourceMapping', 'RouteIndex');

      // Assess
      expect(mapping.Properties).toMatchObject({
        FunctionName: { Ref: functionId },
        EventSourceArn: { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
        FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { sk: { S: [{ prefix: 'CONNECTION#' }] } } } }) }] },
      });
    });

    it('grants the route index only the updates and deletes of route items, the stream read and its failure queue', () => {
      // Prepare
      const [, fn] = routeIndexOf();
      const [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'RouteIndexStreamFailures');
      const logGroupId = (fn.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

      // Act
      const [, policy] = routeIndexOf('AWS::IAM::Policy');
      const statements = (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;

      // Assess
      expect([...statements].sort(byJson)).toEqual(
        [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
          { Effect: 'Allow', Action: ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] } },
          {
            Effect: 'Allow',
            Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
            Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'StreamArn'] },
          },
          { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
          { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        ].sort(byJson),
      );
      expect(fn.Properties['Environment']).toEqual({
        Variables: { [ENV.connectionsTable]: { Ref: 'ConnectionsTable' }, POWERTOOLS_SERVICE_NAME: 'graph-relay-route-index' },
      });
    });
  });

  describe('table migration', () => {
    it('runs the table migrations as a custom resource before any function that reads what they add is updated', () => {
      // Prepare
      const [migrateId] = resourceIn(template, 'AWS::Lambda::Function', 'TableMigrationMigrate');
      const functions = resourcesOf(template, 'AWS::Lambda::Function').filter(([id]) => !id.startsWith('TableMigration'));

      // Act
      const [migrationId, migration] = resourceIn(template, 'Custom::GraphRelayTableMigration', 'TableMigration');

      // Assess
      expect(migration.Properties).toEqual({ ServiceToken: { 'Fn::GetAtt': [migrateId, 'Arn'] }, version: TABLE_MIGRATIONS_VERSION });
      expect(functions.length).toBeGreaterThanOrEqual(5);
      for (const [, fn] of functions) expect(fn['DependsOn']).toEqual(expect.arrayContaining([migrationId]));
    });

    it('grants the migration only the reads and writes of a backfill on the connections table', () => {
      // Act
      const [, policy] = resourceIn(template, 'AWS::IAM::Policy', 'TableMigrationMigrate');
      const statements = (policy.Properties['PolicyDocument'] as { Statement: { Action: unknown; Resource: unknown }[] }).Statement;

      // Assess
      expect(statements.filter((statement) => JSON.stringify(statement.Action).includes('dynamodb'))).toEqual([
        {
          Effect: 'Allow',
          Action: ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
          Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
        },
      ]);
    });
  });

  describe('cdk-nag AwsSolutions', () => {
    it('synthesizes with no unacknowledged finding', () => {
      // Prepare
      const { app } = composeApp(stage);

      // Act: an in-memory synth throws on any finding the plugins report
      const assembly = app.synth();

      // Assess
      const report = JSON.parse(readFileSync(join(assembly.directory, VALIDATION_REPORT_FILE), 'utf8')) as {
        pluginReports: { pluginName: string; violations: unknown[] }[];
      };
      expect(report.pluginReports.filter((plugin) => plugin.violations.length > 0)).toEqual([]);
    });

    it('fails the synth on a finding nobody acknowledged', () => {
      // Prepare: a table without point-in-time recovery (AwsSolutions-DDB3)
      const { app, stack } = composeApp(stage);
      new dynamodb.Table(stack, 'Unacknowledged', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      });

      // Act
      const synth = () => app.synth();

      // Assess
      expect(synth).toThrow(/Unacknowledged[\s\S]*AwsSolutions-DDB3/);
    });

    it('acknowledges only findings that occur, each with a reason', () => {
      // Prepare
      const acknowledgements = acknowledgementsIn(composeApp(stage).app);
      jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
      const unacknowledgedApp = composeApp(stage).app;

      // Act
      const findings = new AwsSolutionsChecks()
        .validateScope(unacknowledgedApp)
        .violations.flatMap((violation) =>
          violation.violatingResources.map((resource) => ({ id: violation.ruleName, path: resource.constructPath })),
        );

      // Assess
      const covers = (ack: Acknowledgement, finding: { id: string; path?: string }) =>
        finding.id === ack.id && (finding.path === ack.path || !!finding.path?.startsWith(`${ack.path}/`));
      expect(acknowledgements.length).toBeGreaterThan(0);
      expect(acknowledgements.filter((ack) => !findings.some((finding) => covers(ack, finding)))).toEqual([]);
      expect(findings.filter((finding) => !acknowledgements.some((ack) => covers(ack, finding)))).toEqual([]);
      expect(acknowledgements.filter((ack) => ack.reason.trim().length < 40)).toEqual([]);
    });
  });
});

import { Template } from 'aws-cdk-lib/assertions';
import { RESYNC_ALARM_THRESHOLDS, RESYNC_QUEUE, RESYNC_TIMEOUT } from '../../infra/constructs/resync';
import { parseStageConfig, STAGE_NAMES } from '../../infra/stage-config';
import { ENV, PAYLOAD_BUCKET_ENV } from '../../shared/config/env-names';
import { byJson, resourceIn, resourcesOf, stackOnly, withInlineFunctionCode } from './helpers';

// The bundles are not under test here (graph-relay-stack.test.ts deploys them as built).
withInlineFunctionCode();

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const statementsOf = (template: Template, prefix: string): Statement[] =>
  (resourceIn(template, 'AWS::IAM::Policy', prefix)[1].Properties['PolicyDocument'] as { Statement: Statement[] }).Statement;

describe.each(STAGE_NAMES)('GraphRelay-%s resync', (stage) => {
  const config = parseStageConfig(stage);
  let template: Template;
  let queueId: string;
  let deadLetterQueueId: string;
  let functionId: string;
  let fn: { Properties: Record<string, unknown> };

  beforeAll(() => {
    template = Template.fromStack(stackOnly(stage).stack);
    [queueId] = resourceIn(template, 'AWS::SQS::Queue', 'ResyncQueue');
    [deadLetterQueueId] = resourceIn(template, 'AWS::SQS::Queue', 'ResyncDeadLetterQueue');
    [functionId, fn] = resourceIn(template, 'AWS::Lambda::Function', 'ResyncWorker');
  });

  it('runs the resync on Node.js 22, arm64, 512 MB, for up to 5 minutes a slice, without reserved concurrency', () => {
    // Assess
    expect(RESYNC_TIMEOUT.toSeconds()).toBe(300);
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: 300,
      LoggingConfig: { LogFormat: 'JSON' },
    });
    // The event source caps concurrency; a reservation would throttle received jobs back to the queue.
    expect(fn.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it('takes jobs from an encrypted, TLS-only queue whose visibility timeout is six times the function timeout, ten receives before its dead-letter queue', () => {
    // Act
    const [, queue] = resourceIn(template, 'AWS::SQS::Queue', 'ResyncQueue');
    const [, deadLetterQueue] = resourceIn(template, 'AWS::SQS::Queue', 'ResyncDeadLetterQueue');

    // Assess
    expect(queue.Properties).toEqual({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 6 * 300,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }, maxReceiveCount: 10 },
    });
    expect(deadLetterQueue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    for (const id of [queueId, deadLetterQueueId]) {
      const [, policy] = resourcesOf(template, 'AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(p.Properties['Queues']) === JSON.stringify([{ Ref: id }]))!;
      expect((policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([
        { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sqs:*', Resource: { 'Fn::GetAtt': [id, 'Arn'] }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      ]);
    }
    expect(RESYNC_QUEUE.visibilityTimeout.toSeconds()).toBeGreaterThanOrEqual(6 * RESYNC_TIMEOUT.toSeconds());
  });

  it('is fed one job per invocation, at most four runs at once, reporting a failed job as an item failure', () => {
    // Act
    const [, mapping] = resourceIn(template, 'AWS::Lambda::EventSourceMapping', 'ResyncWorker');

    // Assess
    expect(mapping.Properties).toEqual({
      FunctionName: { Ref: functionId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 4 },
    });
  });

  it('gives the resync exactly the names it reads (shared/config/resync-config.ts, the Graph endpoints), and no secret', () => {
    // Assess
    expect(fn.Properties['Environment']).toEqual({
      Variables: {
        [ENV.connectionsTable]: { Ref: 'ConnectionsTable' },
        [ENV.eventBus]: { Ref: 'NotificationBus' },
        [ENV.eventSource]: config.eventSource,
        [ENV.webhookSecretPrefix]: `graph-relay/${stage}/integrations/`,
        [ENV.resyncQueueUrl]: { Ref: queueId },
        [ENV.resyncEveryHours]: String(config.resyncEveryHours),
        [PAYLOAD_BUCKET_ENV]: { Ref: 'PayloadBucket' },
        GRAPH_API_URL: 'https://graph.microsoft.com',
        GRAPH_LOGIN_URL: 'https://login.microsoftonline.com',
        POWERTOOLS_SERVICE_NAME: 'graph-relay-resync',
      },
    });
  });

  it('grants the resync role exactly the calls of a run: the table, the events, payloads, the app credentials and its own queue', () => {
    // Prepare
    const [roleId] = resourceIn(template, 'AWS::IAM::Role', 'ResyncWorker');
    const logGroupId = (fn.Properties['LoggingConfig'] as { LogGroup: { Ref: string } }).LogGroup.Ref;

    // Act
    const [, policy] = resourceIn(template, 'AWS::IAM::Policy', 'ResyncWorker');
    const statements = statementsOf(template, 'ResyncWorker');

    // Assess
    expect(fn.Properties['Role']).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
    expect([...statements].sort(byJson)).toEqual(
      [
        { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
        {
          Effect: 'Allow',
          Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
          Resource: { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] },
        },
        { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['NotificationBus', 'Arn'] } },
        { Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['PayloadBucket', 'Arn'] }, '/*']] } },
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
        // The event source's receive, and SendMessage for its own continuations, merged on the one queue.
        {
          Effect: 'Allow',
          Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        },
      ].sort(byJson),
    );
  });

  it.each([
    ['lifecycle handler', 'LifecycleHandlerLifecycle'],
    ['renewal', 'RenewalScheduleRenewal'],
    ['reconciler', 'ReconcilerReconcile'],
  ])('lets the %s ask for resyncs: the queue URL and sqs:SendMessage on the queue, nothing more', (_name, prefix) => {
    // Act
    const [, sender] = resourceIn(template, 'AWS::Lambda::Function', prefix);
    const onQueue = statementsOf(template, prefix).filter((statement) => JSON.stringify(statement.Resource).includes(queueId));

    // Assess
    expect((sender.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables[ENV.resyncQueueUrl]).toEqual({ Ref: queueId });
    expect(onQueue).toHaveLength(1);
    expect(onQueue[0]!.Action).toBe('sqs:SendMessage');
  });

  it('is the only function that reads the resync queue, and the intake cannot write to it', () => {
    // Act
    const mappings = resourcesOf(template, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(m.Properties['EventSourceArn']).includes(queueId));
    const [, intake] = resourceIn(template, 'AWS::Lambda::Function', 'Intake');

    // Assess
    expect(mappings.map(([, m]) => m.Properties['FunctionName'])).toEqual([{ Ref: functionId }]);
    expect((intake.Properties['Environment'] as { Variables: Record<string, unknown> }).Variables).not.toHaveProperty(ENV.resyncQueueUrl);
    expect(JSON.stringify(statementsOf(template, 'IntakeRole'))).not.toContain(queueId);
  });

  it('alarms as soon as a job reaches the dead-letter queue', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'ResyncDeadLetters');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('alarms when the oldest job has waited over an hour, longer than one crashed run\'s retry takes', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'ResyncStuck');

    // Assess
    expect(RESYNC_ALARM_THRESHOLDS.oldestJobAgeSeconds).toBeGreaterThan(RESYNC_QUEUE.visibilityTimeout.toSeconds());
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 3600,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('alarms on any invocation error of the resync function', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'ResyncErrors');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('puts the resync figures on the dashboard: runs and objects, the queue, its dead letters and the function', () => {
    // Act
    const [, dashboard] = resourceIn(template, 'AWS::CloudWatch::Dashboard', 'Dashboard');
    const body = JSON.stringify(dashboard.Properties['DashboardBody']);

    // Assess
    for (const name of ['ResyncRuns', 'ResyncObjectsPublished', 'ResyncContinued', 'ResyncBusy', 'ResyncThrottled', 'ResyncFailed']) {
      expect(body).toContain(`[\\"GraphRelay\\",\\"${name}\\",\\"service\\",\\"resync\\"`);
    }
    for (const [metric, id] of [
      ['ApproximateNumberOfMessagesVisible', queueId],
      ['ApproximateNumberOfMessagesNotVisible', queueId],
      ['ApproximateAgeOfOldestMessage', queueId],
      ['ApproximateNumberOfMessagesVisible', deadLetterQueueId],
    ] as const) {
      expect(body).toContain(`[\\"AWS/SQS\\",\\"${metric}\\",\\"QueueName\\",\\"`);
      expect(body).toMatch(new RegExp(`\\\\"${metric}\\\\",\\\\"QueueName\\\\",\\\\"",\\{"Fn::GetAtt":\\["${id}","QueueName"\\]\\}`));
    }
    for (const metric of ['Errors', 'Duration']) expect(body).toMatch(new RegExp(`\\\\"AWS/Lambda\\\\",\\\\"${metric}\\\\",\\\\"FunctionName\\\\",\\\\"",\\{"Ref":"${functionId}"\\}`));
  });

  it('outputs the queue URL the operator CLI asks for resyncs on', () => {
    // Act
    const output = template.findOutputs('ResyncQueueUrl')['ResyncQueueUrl'];

    // Assess
    expect(output?.['Value']).toEqual({ Ref: queueId });
  });
});

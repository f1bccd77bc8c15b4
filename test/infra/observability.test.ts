import { Template } from 'aws-cdk-lib/assertions';
import { INTAKE_ALARM_THRESHOLDS } from '../../infra/constructs/intake-alarms';
import { parseStageConfig, STAGE_NAMES, type StageName, type StageSettings } from '../../infra/stage-config';
import { DEPLOYED } from '../../bench/cost-inputs';
import { byJson, resourceIn, resourcesOf, soleResource, stackOnly, withInlineFunctionCode } from './helpers';

/** A real stage's config with some settings changed, validated like any entry. */
function stageWith(stage: StageName, change: Partial<StageSettings>) {
  const { stage: _name, webhookSecretPrefix: _prefix, ...settings } = parseStageConfig(stage);
  return parseStageConfig(stage, { [stage]: { ...settings, ...change } });
}

/** The logical ids of the resources that hold data or that others point at; a change would replace them. */
const STATEFUL_IDS = {
  ConnectionsTable: 'AWS::DynamoDB::Table',
  DeliveriesTable: 'AWS::DynamoDB::Table',
  PayloadBucket: 'AWS::S3::Bucket',
  NotificationBus: 'AWS::Events::EventBus',
  NotificationArchive: 'AWS::Events::Archive',
  AlarmTopic: 'AWS::SNS::Topic',
  AlarmTopicKey: 'AWS::KMS::Key',
} as const;

// The bundles are not under test here (graph-relay-stack.test.ts deploys them as built).
withInlineFunctionCode();

describe.each(STAGE_NAMES)('GraphRelay-%s observability', (stage) => {
  const config = parseStageConfig(stage);
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(stackOnly(stage).stack);
  });

  it('keeps the logical id of every stateful resource', () => {
    // Act
    const resources = template.toJSON()['Resources'] as Record<string, { Type: string }>;

    // Assess
    for (const [logicalId, type] of Object.entries(STATEFUL_IDS)) expect(resources[logicalId]?.Type).toBe(type);
    for (const type of new Set(Object.values(STATEFUL_IDS))) {
      const pinned = Object.entries(STATEFUL_IDS).filter(([, pinnedType]) => pinnedType === type).map(([id]) => id);
      expect(resourcesOf(template, type).map(([id]) => id).sort()).toEqual(pinned.sort());
    }
  });

  it('sends alarms to an encrypted, TLS-only topic that CloudWatch may publish to', () => {
    // Act
    const [topicId, topic] = soleResource(template, 'AWS::SNS::Topic');
    const [, key] = soleResource(template, 'AWS::KMS::Key');
    const [, policy] = soleResource(template, 'AWS::SNS::TopicPolicy');

    // Assess
    expect(topicId).toBe('AlarmTopic');
    expect(topic.Properties['KmsMasterKeyId']).toEqual({ 'Fn::GetAtt': ['AlarmTopicKey', 'Arn'] });
    expect(key.Properties['EnableKeyRotation']).toBe(true);
    expect(key['DeletionPolicy']).toBe(config.retainData ? 'Retain' : 'Delete');
    expect(key.Properties['KeyPolicy']).toMatchObject({
      Statement: expect.arrayContaining([
        { Sid: 'CloudWatchAlarmsPublish', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
      ]),
    });
    expect(policy.Properties).toEqual({
      Topics: [{ Ref: 'AlarmTopic' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'AllowPublishThroughSSLOnly', Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Resource: { Ref: 'AlarmTopic' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
          {
            Sid: 'CloudWatchAlarmsPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: 'AlarmTopic' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', config.alarmEmail === undefined ? 0 : 1);
  });

  it('sends every alarm of the stack to the topic, when it fires and when it clears', () => {
    // Act
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');

    // Assess
    expect(alarms).toHaveLength(19);
    for (const [, alarm] of alarms) {
      expect(alarm.Properties).toMatchObject({ AlarmActions: [{ Ref: 'AlarmTopic' }], OKActions: [{ Ref: 'AlarmTopic' }] });
    }
  });

  it('treats missing data as not breaching: no traffic, no run, no alarm', () => {
    // Act
    const treatments = new Set(resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties['TreatMissingData']));

    // Assess
    expect([...treatments]).toEqual(['notBreaching']);
  });

  it(`alarms when more than ${INTAKE_ALARM_THRESHOLDS.serverErrorRatePercent}% of at least ${INTAKE_ALARM_THRESHOLDS.serverErrorRateMinimumRequests} webhook requests in 5 minutes answered 5xx`, () => {
    // Prepare
    const [apiId] = soleResource(template, 'AWS::ApiGatewayV2::Api');
    const dimensions = [
      { Name: 'ApiId', Value: { Ref: apiId } },
      { Name: 'Stage', Value: '$default' },
    ];

    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'AlarmsWebhookServerErrorRate');

    // Assess
    expect(alarm.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1 });
    expect([...(alarm.Properties['Metrics'] as unknown[])].sort(byJson)).toEqual(
      [
        { Id: 'expr_1', ReturnData: true, Label: 'Webhook 5xx (%)', Expression: 'IF(requests >= 20, 100 * FILL(serverErrors, 0) / requests, 0)' },
        { Id: 'serverErrors', ReturnData: false, MetricStat: { Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: dimensions }, Period: 300, Stat: 'Sum' } },
        { Id: 'requests', ReturnData: false, MetricStat: { Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: dimensions }, Period: 300, Stat: 'SampleCount' } },
      ].sort(byJson),
    );
  });

  it('alarms when the intake p99 duration exceeds 1 s in two of three 5-minute periods', () => {
    // Prepare
    const [functionId] = resourceIn(template, 'AWS::Lambda::Function', 'Intake');

    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'AlarmsIntakeDurationP99');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
      ExtendedStatistic: 'p99',
      Period: 300,
      Threshold: 1000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
  });

  it('alarms on any forged notification, from the intake\'s own metric', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'AlarmsNotificationsForged');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'GraphRelay',
      MetricName: 'NotificationsForged',
      Dimensions: [{ Name: 'service', Value: 'intake' }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it(`alarms on a flood of webhook 4xx answers: at least ${INTAKE_ALARM_THRESHOLDS.clientErrorsPer5Minutes} in 5 minutes, as API Gateway counts them`, () => {
    // Prepare
    const [apiId] = soleResource(template, 'AWS::ApiGatewayV2::Api');

    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'AlarmsWebhookClientErrors');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '4xx',
      Dimensions: expect.arrayContaining([{ Name: 'ApiId', Value: { Ref: apiId } }]),
      Statistic: 'Sum',
      Period: 300,
      Threshold: INTAKE_ALARM_THRESHOLDS.clientErrorsPer5Minutes,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });

  it('alarms on any renewal failed or needing consent, one period per run', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'RenewalScheduleRenewalFailures');

    // Assess
    const period = config.renewalIntervalMinutes * 60;
    expect(alarm.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1 });
    expect([...(alarm.Properties['Metrics'] as unknown[])].sort(byJson)).toEqual(
      [
        { Id: 'expr_1', ReturnData: true, Label: 'Renewals failed or needing consent', Expression: 'FILL(failed, 0) + FILL(needsConsent, 0)' },
        ...['SubscriptionsFailed', 'SubscriptionsNeedsConsent'].map((metricName) => ({
          Id: metricName === 'SubscriptionsFailed' ? 'failed' : 'needsConsent',
          ReturnData: false,
          MetricStat: { Metric: { Namespace: 'GraphRelay', MetricName: metricName, Dimensions: [{ Name: 'service', Value: 'renewal' }] }, Period: period, Stat: 'Sum' },
        })),
      ].sort(byJson),
    );
  });

  it('alarms on any subscription expiring within 6 hours, as the scheduled reconcile counts them', () => {
    // Act
    const [, alarm] = resourceIn(template, 'AWS::CloudWatch::Alarm', 'ReconcilerSubscriptionsExpiringSoon');

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'GraphRelay',
      MetricName: 'SubscriptionsExpiringWithin6h',
      Dimensions: [{ Name: 'service', Value: 'reconcile' }],
      Statistic: 'Maximum',
      Period: config.reconcileIntervalMinutes * 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms as soon as any dead-letter or failure queue holds a message, and when the one work queue (resync jobs) falls behind', () => {
    // Prepare
    const [workQueueId] = resourceIn(template, 'AWS::SQS::Queue', 'ResyncQueue');

    // Act
    const queues = resourcesOf(template, 'AWS::SQS::Queue').map(([id]) => id).filter((id) => id !== workQueueId);
    const depthAlarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([, alarm]) => alarm.Properties['MetricName'] === 'ApproximateNumberOfMessagesVisible');
    const ageAlarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([, alarm]) => alarm.Properties['MetricName'] === 'ApproximateAgeOfOldestMessage');

    // Assess
    expect(queues).toHaveLength(7);
    expect(ageAlarms.map(([, alarm]) => alarm.Properties['Dimensions'])).toEqual([[{ Name: 'QueueName', Value: { 'Fn::GetAtt': [workQueueId, 'QueueName'] } }]]);
    expect(depthAlarms.map(([, alarm]) => (alarm.Properties['Dimensions'] as [{ Value: { 'Fn::GetAtt': [string] } }])[0].Value['Fn::GetAtt'][0]).sort()).toEqual([...queues].sort());
    for (const [, alarm] of depthAlarms) {
      expect(alarm.Properties).toMatchObject({ Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 1 });
    }
  });

  it('gives every EventBridge rule and schedule target a dead-letter queue', () => {
    // Act
    const ruleTargets = resourcesOf(template, 'AWS::Events::Rule').flatMap(([, rule]) => rule.Properties['Targets'] as Record<string, unknown>[]);
    const scheduleTargets = resourcesOf(template, 'AWS::Scheduler::Schedule').map(([, schedule]) => schedule.Properties['Target'] as Record<string, unknown>);

    // Assess
    expect(scheduleTargets).toHaveLength(3);
    for (const target of [...ruleTargets, ...scheduleTargets]) expect(target['DeadLetterConfig']).toEqual({ Arn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } });
  });

  it.each([
    ['RenewalSchedule', 'RenewalScheduleRenewal'],
    ['ReconcilerSchedule', 'ReconcilerReconcile'],
  ])('lets the %s role invoke its function and write its dead-letter queue, nothing else', (schedulePrefix, functionPrefix) => {
    // Prepare
    const [functionId] = resourceIn(template, 'AWS::Lambda::Function', functionPrefix);
    const [queueId] = resourceIn(template, 'AWS::SQS::Queue', `${schedulePrefix}DeadLetterQueue`);
    const [roleId, role] = resourceIn(template, 'AWS::IAM::Role', `${schedulePrefix}Role`);

    // Act
    const [, policy] = resourceIn(template, 'AWS::IAM::Policy', `${schedulePrefix}RoleDefaultPolicy`);

    // Assess
    expect(role.Properties).toEqual({
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: {
              StringEquals: {
                'aws:SourceAccount': { Ref: 'AWS::AccountId' },
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':schedule-group/default']],
                },
              },
            },
          },
        ],
      },
    });
    expect(policy.Properties['Roles']).toEqual([{ Ref: roleId }]);
    expect((policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [functionId, 'Arn'] } },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } },
    ]);
  });

  it('puts the relay figures on one dashboard', () => {
    // Act
    const [, dashboard] = soleResource(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties['DashboardBody']);

    // Assess
    const figures = {
      intake: ['NotificationsReceived', 'NotificationsPublished', 'NotificationsUnrouted', 'NotificationsForged', 'NotificationsDuplicate'],
      renewal: ['SubscriptionsRenewed', 'SubscriptionsFailed', 'SubscriptionsDeferred'],
      reconcile: ['SubscriptionsExpiringWithin24h', 'SubscriptionsExpiringWithin6h', 'ReconcileCreated', 'ReconcileDeleted', 'ReconcileFailed'],
      resync: ['ResyncRuns', 'ResyncObjectsPublished', 'ResyncContinued', 'ResyncBusy', 'ResyncThrottled', 'ResyncFailed'],
    };
    for (const [service, names] of Object.entries(figures)) {
      for (const name of names) expect(body).toContain(`[\\"GraphRelay\\",\\"${name}\\",\\"service\\",\\"${service}\\"`);
    }
    for (const stat of ['p50', 'p99']) expect(body).toContain(`\\"stat\\":\\"${stat}\\"`);
    expect(body).toContain('\\"AWS/ApiGateway\\",\\"5xx\\"');
    expect(body).toContain('\\"AWS/ApiGateway\\",\\"4xx\\"');
    for (const outcome of ['Outcome_unknown-integration', 'Outcome_rejected']) expect(body).toContain(`[\\"GraphRelay\\",\\"${outcome}\\",\\"service\\",\\"intake\\"`);
    // Six dead-letter and failure queues, and the resync jobs waiting.
    expect(body.match(/ApproximateNumberOfMessagesVisible/g)).toHaveLength(8);
  });

  it('logs every webhook request as JSON with its request id, status, latency and path (whose last segment is the integration id)', () => {
    // Act
    const [, apiStage] = soleResource(template, 'AWS::ApiGatewayV2::Stage');
    const format = JSON.parse((apiStage.Properties['AccessLogSettings'] as { Format: string }).Format) as Record<string, string>;

    // Assess
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
      responseLatency: '$context.responseLatency',
      integrationLatency: '$context.integration.latency',
      routeKey: '$context.routeKey',
      path: '$context.path',
    });
  });

  it('outputs the exact notificationUrl of every integration of the stage', () => {
    // Prepare
    const outputs = template.findOutputs('*');
    const base = outputs['WebhookBaseUrl']?.['Value'] as { 'Fn::Join': [string, unknown[]] };
    const urlOf = (integrationId: string) => {
      const parts = [...base['Fn::Join'][1]];
      parts.push(`${String(parts.pop())}${integrationId}`);
      return { 'Fn::Join': ['', parts] };
    };

    // Act
    const urls = Object.fromEntries(Object.entries(outputs).filter(([id]) => id.startsWith('WebhookUrl')).map(([id, output]) => [id, output['Value']]));

    // Assess
    expect(urls).toEqual(Object.fromEntries(Object.keys(config.integrations).map((integrationId) => [`WebhookUrl${integrationId[0]!.toUpperCase()}${integrationId.slice(1)}`, urlOf(integrationId)])));
    if (stage === 'dev') expect(Object.keys(urls)).toEqual(['WebhookUrlContoso']);
  });

  it('matches what the cost model (bench/cost-inputs.ts, COSTS.md) assumes of the stack', () => {
    // Act
    const [, renewal] = resourceIn(template, 'AWS::Lambda::Function', 'RenewalScheduleRenewal');
    const [, resync] = resourceIn(template, 'AWS::Lambda::Function', 'ResyncWorker');

    // Assess
    expect(resourcesOf(template, 'AWS::CloudWatch::Alarm')).toHaveLength(DEPLOYED.alarms);
    expect(resourcesOf(template, 'AWS::CloudWatch::Dashboard')).toHaveLength(DEPLOYED.dashboards);
    expect(resourcesOf(template, 'AWS::KMS::Key')).toHaveLength(DEPLOYED.kmsKeys);
    expect(renewal.Properties['MemorySize']).toBe(DEPLOYED.renewalMemoryMb);
    expect(resync.Properties['MemorySize']).toBe(DEPLOYED.resyncMemoryMb);
    expect(resync.Properties['Timeout']).toBe(DEPLOYED.resyncTimeoutSeconds);
    if (stage === 'prod') expect(config.intakeMemoryMb).toBe(DEPLOYED.intakeMemoryMb);
  });
});

describe('settings a stage may add', () => {
  it('subscribes the stage\'s alarm e-mail to the topic', () => {
    // Prepare
    const config = stageWith('prod', { alarmEmail: 'ops@example.com' });

    // Act
    const template = Template.fromStack(stackOnly(config).stack);

    // Assess
    const [, subscription] = soleResource(template, 'AWS::SNS::Subscription');
    expect(subscription.Properties).toEqual({ Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: 'AlarmTopic' } });
  });

  it('sends every alarm to the stage\'s own topic instead of creating one', () => {
    // Prepare
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const config = stageWith('prod', { alarmTopicArn: topicArn });

    // Act
    const template = Template.fromStack(stackOnly(config).stack);

    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    for (const [, alarm] of resourcesOf(template, 'AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties).toMatchObject({ AlarmActions: [topicArn], OKActions: [topicArn] });
    }
    expect(template.findOutputs('AlarmTopicArn')['AlarmTopicArn']?.['Value']).toBe(topicArn);
  });

  it('names integrations\' outputs from their ids, separators dropped', () => {
    // Prepare
    const config = stageWith('prod', { integrations: { 'acme.mail-v2': 'microsoft-oauth2-cc' } });

    // Act
    const outputs = Template.fromStack(stackOnly(config).stack).findOutputs('*');

    // Assess
    expect(Object.keys(outputs).filter((id) => id.startsWith('WebhookUrl'))).toEqual(['WebhookUrlAcmeMailV2']);
    expect(outputs['WebhookUrlAcmeMailV2']?.['Description']).toBe('notificationUrl of integration acme.mail-v2 (microsoft-oauth2-cc)');
    expect(JSON.stringify(outputs['WebhookUrlAcmeMailV2']?.['Value'])).toMatch(/"\/webhook\/acme\.mail-v2"\]\]\}$/);
  });
});

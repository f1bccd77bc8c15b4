import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GraphNotificationRule, graphNotificationPattern, InvalidGraphNotificationFilterError, type GraphNotificationRuleProps } from '../../infra/consumer';
import { DETAIL_TYPES } from '../../shared/events/contract';

const BUS_NAME = 'graph-relay-dev-NotificationBus';
const BUS_ARN = `arn:aws:events:eu-west-1:123456789012:event-bus/${BUS_NAME}`;
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

/** A consumer's own CDK app, with cdk-nag as the relay's app applies it. */
function consumerApp() {
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
  return { app, stack };
}

/** The consumer's queue, as a careful consumer builds it: encrypted, TLS only, with its own dead-letter queue. */
function inbox(stack: Stack): sqs.Queue {
  const poison = new sqs.Queue(stack, 'InboxPoison', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
  return new sqs.Queue(stack, 'Inbox', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: poison, maxReceiveCount: 5 },
  });
}

/** The consumer's function; its own nag findings are the consumer's to acknowledge, not the construct's. */
function handlerFunction(stack: Stack): lambda.Function {
  const fn = new lambda.Function(stack, 'Handler', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => undefined;'),
  });
  Validations.of(fn).acknowledge(
    { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: 'Test consumer function: the basic execution role is all it needs to write its logs.' },
    { id: 'AwsSolutions-L1', reason: 'Test consumer function: its runtime is the consumer application choice, not the construct.' },
  );
  return fn;
}

describe('GraphNotificationRule', () => {
  it('subscribes an SQS queue with the filter pattern, a dead-letter queue and the retry policy', () => {
    // Prepare
    const { stack } = consumerApp();
    const queue = inbox(stack);
    const filter = { integrationIds: ['contoso'], connectionIds: ['contoso-main'], changeTypes: ['created', 'updated'] as const, resourcePrefix: 'Users/', tenantIds: [TENANT] };

    // Act
    const rule = new GraphNotificationRule(stack, 'ContosoUsers', { eventBus: BUS_NAME, target: queue, ...filter, changeTypes: [...filter.changeTypes], retryAttempts: 8, maxEventAge: Duration.hours(1) });
    const template = Template.fromStack(stack);

    // Assess
    expect(rule.eventPattern).toEqual(graphNotificationPattern({ ...filter, changeTypes: [...filter.changeTypes] }));
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: BUS_NAME,
      State: 'ENABLED',
      EventPattern: {
        source: ['graph-relay'],
        'detail-type': ['Graph Change Notification', 'Graph Lifecycle Notification'],
        detail: {
          providerConfigKey: ['contoso'],
          connectionId: ['contoso-main'],
          payload: { value: { $or: [{ changeType: ['created', 'updated'], resource: [{ prefix: 'Users/' }] }, { lifecycleEvent: [{ exists: true }] }] } },
          metadata: { tenantId: [TENANT] },
        },
      },
      Targets: [
        {
          Id: Match.anyValue(),
          Arn: { 'Fn::GetAtt': [stack.getLogicalId(queue.node.defaultChild as sqs.CfnQueue), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [stack.getLogicalId(rule.deadLetterQueue?.node.defaultChild as sqs.CfnQueue), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
        },
      ],
    });
    // EventBridge may send to the consumer's queue, for this rule only.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: stack.getLogicalId(queue.node.defaultChild as sqs.CfnQueue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [stack.getLogicalId(rule.rule.node.defaultChild as events.CfnRule), 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('creates an encrypted, TLS-only dead-letter queue that only the rule may send to', () => {
    // Prepare
    const { stack } = consumerApp();

    // Act
    const rule = new GraphNotificationRule(stack, 'Rule', { eventBus: BUS_NAME, target: inbox(stack) });
    const template = Template.fromStack(stack);

    // Assess
    const dlqId = stack.getLogicalId(rule.deadLetterQueue?.node.defaultChild as sqs.CfnQueue);
    expect(template.toJSON().Resources[dlqId]).toMatchObject({ Type: 'AWS::SQS::Queue', Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 } });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlqId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' }, Condition: { ArnEquals: { 'aws:SourceArn': Match.anyValue() } } }),
        ]),
      },
    });
  });

  it('subscribes a Lambda function on a bus given by ARN, allowing only the rule to invoke it', () => {
    // Prepare
    const { stack } = consumerApp();
    const fn = handlerFunction(stack);

    // Act
    const rule = new GraphNotificationRule(stack, 'Lifecycle', {
      eventBus: BUS_ARN,
      target: fn,
      detailTypes: [DETAIL_TYPES.lifecycle],
      lifecycleEvents: ['reauthorizationRequired', 'subscriptionRemoved'],
      integrationIds: ['contoso'],
    });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: BUS_NAME,
      EventPattern: {
        source: ['graph-relay'],
        'detail-type': ['Graph Lifecycle Notification'],
        detail: { providerConfigKey: ['contoso'], payload: { value: { lifecycleEvent: ['reauthorizationRequired', 'subscriptionRemoved'] } } },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction), 'Arn'] }, DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }) })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [stack.getLogicalId(rule.rule.node.defaultChild as events.CfnRule), 'Arn'] },
    });
  });

  it('takes a bus construct, a given dead-letter queue, or none', () => {
    // Prepare
    const { stack } = consumerApp();
    const bus = events.EventBus.fromEventBusArn(stack, 'Bus', BUS_ARN);
    const ownDlq = new sqs.Queue(stack, 'OwnDlq', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
    Validations.of(ownDlq).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'Test consumer queue used as the rule target dead-letter queue.' });

    // Act
    const given = new GraphNotificationRule(stack, 'Given', { eventBus: bus, target: inbox(stack), deadLetterQueue: ownDlq });
    const none = new GraphNotificationRule(stack, 'None', { eventBus: bus, target: (options) => new targets.SqsQueue(ownDlq, options), deadLetterQueue: false });
    const template = Template.fromStack(stack);

    // Assess
    expect(given.deadLetterQueue).toBe(ownDlq);
    expect(none.deadLetterQueue).toBeUndefined();
    template.resourceCountIs('AWS::SQS::Queue', 3);
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as { Properties: { Targets: Record<string, unknown>[] } }[];
    expect(rules.map((r) => r.Properties.Targets[0]?.['DeadLetterConfig'])).toEqual([{ Arn: { 'Fn::GetAtt': [stack.getLogicalId(ownDlq.node.defaultChild as sqs.CfnQueue), 'Arn'] } }, undefined]);
    expect(rules.map((r) => r.Properties.Targets[0]?.['RetryPolicy'])).toEqual([undefined, undefined]);
  });

  it.each<[string, Partial<GraphNotificationRuleProps>, RegExp]>([
    ['an empty connection list', { connectionIds: [] }, /connectionIds: must name at least one connection/],
    ['a malformed tenant id', { tenantIds: ['contoso'] }, /tenantIds\.0: tenant id must be a GUID/],
    ['too many retries', { retryAttempts: 186 }, /retryAttempts must be an integer from 0 to 185/],
    ['a fractional retry count', { retryAttempts: 1.5 }, /retryAttempts/],
    ['a bus that is neither an ARN nor a name', { eventBus: 'not a bus!' }, /neither a bus ARN nor a bus name/],
  ])('refuses %s', (_label, props, message) => {
    // Prepare
    const { stack } = consumerApp();
    const queue = inbox(stack);
    let attempt = 0;

    // Act
    const build = () => new GraphNotificationRule(stack, `Rule${(attempt += 1)}`, { eventBus: BUS_NAME, target: queue, ...props });

    // Assess
    expect(build).toThrow(InvalidGraphNotificationFilterError);
    expect(build).toThrow(message);
  });

  describe('cdk-nag AwsSolutions on the consumer stack', () => {
    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('synthesizes with no unacknowledged finding, for a queue and a function target', () => {
      // Prepare
      const { app, stack } = consumerApp();
      new GraphNotificationRule(stack, 'ToQueue', { eventBus: BUS_NAME, target: inbox(stack), connectionIds: ['contoso-main'] });
      new GraphNotificationRule(stack, 'ToFunction', { eventBus: BUS_ARN, target: handlerFunction(stack), lifecycleEvents: ['missed'] });

      // Act: an in-memory synth throws on any finding the plugins report
      const assembly = app.synth();

      // Assess
      const report = JSON.parse(readFileSync(join(assembly.directory, VALIDATION_REPORT_FILE), 'utf8')) as { pluginReports: { violations: unknown[] }[] };
      expect(report.pluginReports.flatMap((plugin) => plugin.violations)).toEqual([]);
    });

    it('acknowledges, for its own resources, only the dead-letter queue having no dead-letter queue', () => {
      // Prepare
      const { stack } = consumerApp();
      jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
      new GraphNotificationRule(stack, 'ToQueue', { eventBus: BUS_NAME, target: inbox(stack) });

      // Act
      const findings = new AwsSolutionsChecks()
        .validateScope(stack)
        .violations.flatMap((violation) => violation.violatingResources.map((resource) => `${violation.ruleName} ${resource.constructPath ?? ''}`));

      // Assess
      expect(findings).toEqual([expect.stringMatching(/^AwsSolutions-SQS3 Consumer\/ToQueue\/DeadLetterQueue/)]);
    });
  });
});

import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { NotificationBus } from '../../infra/constructs/notification-bus';
import { GraphNotificationRule } from '../../infra/consumer';
import { composeGraphRelayApp } from '../../infra/graph-relay-app';
import { parseStageConfig } from '../../infra/stage-config';
import { cdkJsonContext, resourcesOf, withInlineFunctionCode } from './helpers';

// The bundles are not under test here (graph-relay-stack.test.ts deploys them as built).
withInlineFunctionCode();

const RELAY_ACCOUNT = '123456789012';
const CONSUMER_ACCOUNT = '444455556666';
const BUS_ARN = `arn:aws:events:eu-west-1:${RELAY_ACCOUNT}:event-bus/graph-relay-prod-NotificationBus`;

/** Every action AWS's "manage rules on the event bus" pattern allows another account, and nothing more. */
const RULE_ACTIONS = [
  'events:DeleteRule',
  'events:DescribeRule',
  'events:DisableRule',
  'events:EnableRule',
  'events:ListTagsForResource',
  'events:ListTargetsByRule',
  'events:PutRule',
  'events:PutTargets',
  'events:RemoveTargets',
  'events:TagResource',
  'events:UntagResource',
];
const OWN_RULES_ONLY = { 'events:creatorAccount': '${aws:PrincipalAccount}' };
/** The rules of the relay's bus, and nothing else of the account. */
const RULES_ON_THE_BUS = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':rule/', { Ref: 'NotificationBus' }, '/*']],
};
const root = (account: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${account}:root`]] });

type Statement = { Sid: string; Effect: string; Principal: unknown; Action: string[]; Resource: unknown; Condition: Record<string, Record<string, unknown>> };

function busPolicies(consumerAccounts: readonly string[] | undefined) {
  const stack = new Stack(new App({ context: cdkJsonContext }), 'Relay');
  new NotificationBus(stack, 'NotificationBus', { eventSource: 'graph-relay', archiveRetentionDays: 1, ...(consumerAccounts === undefined ? {} : { consumerAccounts }) });
  const policies = resourcesOf(Template.fromStack(stack), 'AWS::Events::EventBusPolicy');
  return policies.map(([, policy]) => policy.Properties as { EventBusName: unknown; StatementId: string; Statement: Statement });
}

describe('the bus policy for consumers in other accounts', () => {
  it('lets the listed accounts manage only the rules they created, on this bus only', () => {
    // Act
    const policies = busPolicies(['111122223333', CONSUMER_ACCOUNT]);

    // Assess
    expect(policies).toHaveLength(1);
    const [policy] = policies;
    expect(policy?.EventBusName).toEqual({ Ref: 'NotificationBus' });
    expect({ ...policy?.Statement, Action: [...(policy?.Statement.Action ?? [])].sort() }).toEqual({
      Sid: policy?.StatementId,
      Effect: 'Allow',
      Principal: { AWS: [root('111122223333'), root(CONSUMER_ACCOUNT)] },
      Action: RULE_ACTIONS,
      Resource: RULES_ON_THE_BUS,
      Condition: { StringEqualsIfExists: OWN_RULES_ONLY },
    });
  });

  it('lets the accounts of an organization in through aws:PrincipalOrgID, with the same limit', () => {
    // Act
    const policies = busPolicies(['o-a1b2c3d4e5']);

    // Assess
    expect(policies).toHaveLength(1);
    const statement = policies[0]?.Statement;
    expect({ ...statement, Action: [...(statement?.Action ?? [])].sort() }).toEqual({
      Sid: policies[0]?.StatementId,
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: RULE_ACTIONS,
      Resource: RULES_ON_THE_BUS,
      Condition: { StringEquals: { 'aws:PrincipalOrgID': ['o-a1b2c3d4e5'] }, StringEqualsIfExists: OWN_RULES_ONLY },
    });
  });

  it('limits every statement to the caller\'s own rules when accounts and organizations are mixed', () => {
    // Act
    const policies = busPolicies([CONSUMER_ACCOUNT, 'o-a1b2c3d4e5', 'o-f6g7h8i9j0']);

    // Assess
    expect(policies).toHaveLength(2);
    for (const { Statement } of policies) {
      expect(Statement.Effect).toBe('Allow');
      expect(Statement.Condition['StringEqualsIfExists']).toEqual(OWN_RULES_ONLY);
      expect(Statement.Resource).toEqual(RULES_ON_THE_BUS);
      expect([...Statement.Action].sort()).toEqual(RULE_ACTIONS);
    }
    expect(policies.map((p) => p.Statement.Principal)).toEqual([{ AWS: root(CONSUMER_ACCOUNT) }, { AWS: '*' }]);
    expect(policies[1]?.Statement.Condition['StringEquals']).toEqual({ 'aws:PrincipalOrgID': ['o-a1b2c3d4e5', 'o-f6g7h8i9j0'] });
  });

  it.each([['absent', undefined], ['empty', []]])('adds no policy when the list is %s', (_case, consumerAccounts) => {
    // Act
    const policies = busPolicies(consumerAccounts);

    // Assess
    expect(policies).toEqual([]);
  });

  it('puts the stage\'s consumer accounts on the relay\'s bus, and cdk-nag stays clean', () => {
    // Prepare
    const config = { ...parseStageConfig('prod'), consumerAccounts: [CONSUMER_ACCOUNT, 'o-a1b2c3d4e5'] };
    const app = new App({ context: { ...cdkJsonContext, stage: config.stage } });

    // Act
    const stack = composeGraphRelayApp(app, config);
    const synth = () => app.synth();

    // Assess
    expect(synth).not.toThrow();
    Template.fromStack(stack).hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: { Ref: 'NotificationBus' },
      Statement: Match.objectLike({ Principal: { AWS: root(CONSUMER_ACCOUNT) }, Condition: { StringEqualsIfExists: OWN_RULES_ONLY } }),
    });
  });
});

describe('GraphNotificationRule owned by another account', () => {
  /** The consumer's app in its own account, cdk-nag applied as the relay applies it. */
  function consumerApp(account: string | undefined) {
    const app = new App();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'Consumer', account === undefined ? {} : { env: { account, region: 'eu-west-1' } });
    return { app, stack };
  }

  /** The consumer's queue, encrypted, TLS only, with its own dead-letter queue. */
  function inbox(stack: Stack): sqs.Queue {
    const poison = new sqs.Queue(stack, 'InboxPoison', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
    return new sqs.Queue(stack, 'Inbox', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, deadLetterQueue: { queue: poison, maxReceiveCount: 5 } });
  }

  it('puts the rule on the relay\'s bus by ARN and delivers to a queue of the consumer\'s account', () => {
    // Prepare
    const { app, stack } = consumerApp(CONSUMER_ACCOUNT);
    const queue = inbox(stack);

    // Act
    const rule = new GraphNotificationRule(stack, 'Changes', { eventBus: BUS_ARN, target: queue, integrationIds: ['contoso'] });
    const template = Template.fromStack(stack);

    // Assess
    // PutRule names a bus of another account by its ARN; its name alone would be a bus of the consumer's account.
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: BUS_ARN, Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [stack.getLogicalId(queue.node.defaultChild as sqs.CfnQueue), 'Arn'] } })] });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['sqs:SendMessage']), Principal: { Service: 'events.amazonaws.com' }, Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [stack.getLogicalId(rule.rule.node.defaultChild as events.CfnRule), 'Arn'] } } } }),
        ]),
      },
    });
    expect(() => app.synth()).not.toThrow();
  });

  it('delivers to the consumer\'s own bus', () => {
    // Prepare
    const { stack } = consumerApp(CONSUMER_ACCOUNT);
    const ownBus = new events.EventBus(stack, 'OwnBus');

    // Act
    new GraphNotificationRule(stack, 'ToOwnBus', { eventBus: BUS_ARN, target: (options) => new targets.EventBus(ownBus, { ...(options.deadLetterQueue === undefined ? {} : { deadLetterQueue: options.deadLetterQueue }) }) });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: BUS_ARN,
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [stack.getLogicalId(ownBus.node.defaultChild as events.CfnEventBus), 'Arn'] }, RoleArn: Match.anyValue(), DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }) })],
    });
  });

  it('names the bus by ARN when the consumer\'s stack leaves its account to deploy time', () => {
    // Prepare
    const { stack } = consumerApp(undefined);
    const queue = inbox(stack);

    // Act
    new GraphNotificationRule(stack, 'Changes', { eventBus: BUS_ARN, target: queue });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', { EventBusName: BUS_ARN });
  });
});
